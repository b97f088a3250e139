-- rec_spot: on-demand EC2 instances of interruptible workloads (non-production environments,
-- auto scaling group members, batch and CI workloads) priced at a stated Spot discount range.
-- Grain: one row per EC2 instance of rec_instances that qualifies.
-- Inputs: rec_instances, ec2_ondemand_prices (per-type Spot samples), spot_discount_reference,
--   rec_parameters.
-- Columns: the recommendation columns (see recommendations).
-- Qualifies: env tagged and not production (environment_classes), or a member of an auto scaling
--   group, or a workload tag naming batch, CI or build work. Production instances outside an
--   auto scaling group are never proposed.
-- Discount, best source first: the type's Spot sample in its region (midpoint, with the sample's
--   min and max as the range); the region's median of the SkyPilot sample with the configured
--   low/high; the x86 families' median with the configured low/high. CO2e saved: none (the same
--   hardware runs).
WITH candidates AS (
    SELECT
        i.*,
        CASE
            WHEN i.is_production = false THEN 'its env tag is ' || i.env || ' (not production)'
            WHEN i.autoscaling_group IS NOT NULL
                THEN 'it belongs to auto scaling group ' || i.autoscaling_group
            ELSE 'its workload tag is ' || i.workload
        END AS why,
        CASE
            WHEN i.is_production = false AND i.autoscaling_group IS NOT NULL THEN 'high'
            WHEN i.is_production = false THEN 'medium'
            ELSE 'low'
        END AS confidence
    FROM rec_instances AS i
    WHERE i.service_code = 'AmazonEC2'
        AND (
            i.is_production = false
            OR i.autoscaling_group IS NOT NULL
            OR regexp_matches(lower(coalesce(i.workload, '')), '(batch|ci|build|jenkins|runner)')
        )
),

discounts AS (
    SELECT
        c.*,
        coalesce(
            (sample.spot_discount_min_pct + sample.spot_discount_max_pct) / 200,
            region_median.value / 100,
            x86_median.value / 100
        ) AS discount_mid,
        coalesce(sample.spot_discount_min_pct / 100, p.spot_discount_low) AS discount_low,
        coalesce(sample.spot_discount_max_pct / 100, p.spot_discount_high) AS discount_high,
        CASE
            WHEN sample.spot_discount_min_pct IS NOT NULL
                THEN 'the Spot sample of ' || c.instance_type || ' in ' || c.region || ' ('
                    || CAST(sample.spot_discount_min_pct AS VARCHAR) || '-'
                    || CAST(sample.spot_discount_max_pct AS VARCHAR) || '% below on-demand, '
                    || sample.source || ')'
            WHEN region_median.value IS NOT NULL
                THEN 'the median Spot discount in ' || c.region || ' ('
                    || CAST(region_median.value AS VARCHAR) || '%, SKYPILOT-V8) with the '
                    || 'configured range'
            ELSE 'the median Spot discount of x86 families (' || CAST(x86_median.value AS VARCHAR)
                || '%, SKYPILOT-V8) with the configured range'
        END AS discount_basis
    FROM candidates AS c
    CROSS JOIN rec_parameters AS p
    LEFT JOIN ec2_ondemand_prices AS sample
        ON c.instance_type = sample.instance_type AND c.region = sample.region
        AND sample.spot_discount_min_pct IS NOT NULL
    LEFT JOIN spot_discount_reference AS region_median
        ON region_median.scope = c.region || ' | median of row midpoints'
    LEFT JOIN spot_discount_reference AS x86_median
        ON x86_median.scope = 'x86 families | median of row midpoints'
)

SELECT
    'spot' AS kind,
    account_id,
    region,
    resource_id,
    'ec2:instance' AS resource_type,
    service_code,
    team,
    env,
    currency,
    current_monthly_cost,
    current_monthly_cost * discount_mid AS estimated_monthly_saving,
    current_monthly_cost * least(discount_low, discount_mid) AS saving_low,
    current_monthly_cost * greatest(discount_high, discount_mid) AS saving_high,
    0.0 AS co2e_kg_monthly_saved,
    confidence,
    instance_type || ' ran ' || CAST(round(usage_hours, 1) AS VARCHAR)
        || ' on-demand or Savings Plan hours ('
        || CAST(round(on_demand_cost, 2) AS VARCHAR) || ' ' || currency
        || ' in the window'
        || CASE
            WHEN savings_plan_share > 0
                THEN ' (' || CAST(round(savings_plan_share * 100, 0) AS VARCHAR)
                    || '% of it under the Compute Savings Plan, at its effective cost: the '
                    || 'commitment it frees covers other usage)'
            ELSE ''
        END
        || ') and is interruptible: ' || why || '. Priced with ' || discount_basis
        || '. Run it on Spot (a mixed-instances auto scaling group or Spot Fleet) with '
        || 'interruption handling.' AS evidence,
    'review' AS action_name,
    '{"purchase_option": "spot"}' AS action_parameters
FROM discounts
