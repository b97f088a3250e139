-- rec_previous_generation: instances of a previous-generation family (CUDOS's flag) that a
-- current family of the same vendor runs for less.
-- Grain: one row per instance of rec_instances in a 'Previous' family of graviton_equivalents.
-- Inputs: rec_instances, graviton_equivalents, ec2_ondemand_prices, savings_assumptions,
--   carbon_family_watts, carbon_parameters.
-- Columns: the recommendation columns (see recommendations) plus target_instance_type.
-- Target: the cheaper of CUDOS's latest Intel and latest AMD family of the same size whose
--   reference price is known (in the region, else both types in us-east-1), against the CUR's
--   public rate; without reference prices (RDS, ElastiCache, OpenSearch or unlisted types) the
--   latest same-vendor family at CUDOS's stated 5%. A target that costs more is no
--   recommendation (a newer family is not always cheaper: m5 -> m7i is not).
-- Range: low = half the estimate, high = the estimate (performance per vCPU differs, so sizes may
--   change); CO2e saved from the two families' watts.
WITH candidates AS (
    SELECT
        i.*,
        g.x86_vendor,
        target.family AS target_family,
        i.family_prefix || target.family || '.' || i.instance_size AS target_instance_type,
        target.family || '.' || i.instance_size AS target_ec2_type,
        i.instance_family || '.' || i.instance_size AS current_ec2_type,
        (g.x86_vendor = 'Intel' AND target.family = g.cudos_latest_intel)
            OR (g.x86_vendor = 'AMD' AND target.family = g.cudos_latest_amd) AS same_vendor
    FROM rec_instances AS i
    INNER JOIN graviton_equivalents AS g
        ON i.instance_family = g.x86_family AND i.service_code = g.aws_service_cudos
    CROSS JOIN UNNEST(ARRAY[g.cudos_latest_intel, g.cudos_latest_amd]) AS target(family)
    WHERE g.cudos_generation_flag = 'Previous'
        AND i.processor_architecture = 'x86_64'
        AND target.family IS NOT NULL
        AND target.family <> ''
),

priced AS (
    SELECT
        c.*,
        CASE
            WHEN c.service_code = 'AmazonEC2' AND here.ondemand_linux_usd_per_hour > 0
                AND c.public_rate > 0
                THEN here.ondemand_linux_usd_per_hour / c.public_rate
            WHEN c.service_code = 'AmazonEC2' AND use1.ondemand_linux_usd_per_hour > 0
                AND current_use1.ondemand_linux_usd_per_hour > 0
                THEN use1.ondemand_linux_usd_per_hour / current_use1.ondemand_linux_usd_per_hour
        END AS reference_ratio,
        CASE
            WHEN c.service_code = 'AmazonEC2' AND here.ondemand_linux_usd_per_hour > 0
                AND c.public_rate > 0
                THEN 'the reference on-demand price of ' || c.target_ec2_type || ' in '
                    || c.region || ' (' || CAST(here.ondemand_linux_usd_per_hour AS VARCHAR)
                    || ' USD/h, ' || here.source || ') against the CUR''s public rate of '
                    || c.instance_type || ' (' || CAST(round(c.public_rate, 6) AS VARCHAR) || '/h)'
            WHEN c.service_code = 'AmazonEC2' AND use1.ondemand_linux_usd_per_hour > 0
                AND current_use1.ondemand_linux_usd_per_hour > 0
                THEN 'the us-east-1 reference prices of ' || c.target_ec2_type || ' ('
                    || CAST(use1.ondemand_linux_usd_per_hour AS VARCHAR) || ') and '
                    || c.current_ec2_type || ' ('
                    || CAST(current_use1.ondemand_linux_usd_per_hour AS VARCHAR) || ' USD/h, '
                    || use1.source || ')'
        END AS reference_basis
    FROM candidates AS c
    LEFT JOIN ec2_ondemand_prices AS here
        ON c.target_ec2_type = here.instance_type AND c.region = here.region
    LEFT JOIN ec2_ondemand_prices AS use1
        ON c.target_ec2_type = use1.instance_type AND use1.region = 'us-east-1'
    LEFT JOIN ec2_ondemand_prices AS current_use1
        ON c.current_ec2_type = current_use1.instance_type AND current_use1.region = 'us-east-1'
),

-- Per instance: the cheapest priced target; else the same-vendor target at the stated 5%.
ranked AS (
    SELECT
        priced.*,
        row_number() OVER (
            PARTITION BY account_id, region, resource_id, currency
            ORDER BY reference_ratio IS NULL, reference_ratio, same_vendor DESC, target_family
        ) AS rank
    FROM priced
    WHERE reference_ratio IS NOT NULL OR same_vendor
),

chosen AS (
    SELECT
        ranked.*,
        coalesce(ranked.reference_ratio, 1 - stated.value / 100) AS price_ratio,
        coalesce(
            ranked.reference_basis,
            'the stated ratio ' || stated.assumption || ' = ' || CAST(stated.value AS VARCHAR)
                || '% (' || stated.source || '), no reference price for this type'
        ) AS price_basis
    FROM ranked
    CROSS JOIN (
        SELECT assumption, value, source FROM savings_assumptions
        WHERE assumption = 'ec2_previous_generation_potential_savings'
    ) AS stated
    WHERE ranked.rank = 1
),

watts AS (
    SELECT
        chosen.*,
        current_watts.min_watts_per_vcpu + cp.cpu_utilization
            * (current_watts.max_watts_per_vcpu - current_watts.min_watts_per_vcpu)
            AS current_avg_watts,
        target_watts.min_watts_per_vcpu + cp.cpu_utilization
            * (target_watts.max_watts_per_vcpu - target_watts.min_watts_per_vcpu)
            AS target_avg_watts
    FROM chosen
    CROSS JOIN (
        SELECT max(CASE WHEN parameter = 'cpu_utilization' THEN value END) AS cpu_utilization
        FROM carbon_parameters
    ) AS cp
    LEFT JOIN carbon_family_watts AS current_watts
        ON chosen.instance_family = current_watts.instance_family
    LEFT JOIN carbon_family_watts AS target_watts
        ON chosen.target_family = target_watts.instance_family
)

SELECT
    'previous_generation' AS kind,
    account_id,
    region,
    resource_id,
    CASE service_code
        WHEN 'AmazonEC2' THEN 'ec2:instance'
        WHEN 'AmazonRDS' THEN 'rds:db'
        WHEN 'AmazonElastiCache' THEN 'elasticache:cluster'
        ELSE 'es:domain'
    END AS resource_type,
    service_code,
    team,
    env,
    currency,
    current_monthly_cost,
    current_monthly_cost * (1 - price_ratio) AS estimated_monthly_saving,
    current_monthly_cost * (1 - price_ratio) / 2 AS saving_low,
    current_monthly_cost * (1 - price_ratio) AS saving_high,
    CASE
        WHEN current_avg_watts > 0 AND target_avg_watts < current_avg_watts
            THEN operational_co2e_kg_monthly * (1 - target_avg_watts / current_avg_watts)
        ELSE 0
    END AS co2e_kg_monthly_saved,
    CASE WHEN reference_ratio IS NULL THEN 'low' ELSE 'medium' END AS confidence,
    instance_type || ' is a previous-generation family (CUDOS); ' || target_instance_type
        || ' is current. ' || CAST(round(usage_hours, 1) AS VARCHAR)
        || ' on-demand or Savings Plan hours cost '
        || CAST(round(on_demand_cost, 2) AS VARCHAR) || ' ' || currency
        || CASE
            WHEN savings_plan_share > 0
                THEN ' (' || CAST(round(savings_plan_share * 100, 0) AS VARCHAR)
                    || '% of it under the Compute Savings Plan, at its effective cost: the '
                    || 'commitment it frees covers other usage)'
            ELSE ''
        END
        || ' in the window; priced with ' || price_basis || ': price ratio '
        || CAST(round(price_ratio, 4) AS VARCHAR) || '.' AS evidence,
    'review' AS action_name,
    '{"target_instance_type": "' || target_instance_type || '"}' AS action_parameters,
    target_instance_type
FROM watts
WHERE price_ratio < 1
