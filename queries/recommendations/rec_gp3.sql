-- rec_gp3: gp2 EBS volumes moved to gp3, priced from the volume's own gp2 rate in the CUR.
-- Grain: one row per gp2 volume billed in the lookback window.
-- Inputs: stg_line_items, savings_assumptions, rec_parameters.
-- Columns: the recommendation columns (see recommendations) plus size_gb.
-- gp3 storage costs ebs_gp3_storage_unit_cost_assumption (80%) of gp2's per GB-month (CUDOS, as
-- AWS lists it in most regions). gp2 gives 3 IOPS per GB; gp3 includes 3,000: a volume above
-- 1,000 GB needs min(3 x GB, 16,000) - 3,000 extra IOPS to match, at
-- ebs_gp3_extra_iops_assumption (0.06) x the gp3 GB-month rate per IOPS-month (CUDOS). Estimate
-- and low: like-for-like IOPS; high: no extra IOPS. Throughput above gp3's 125 MiB/s baseline is
-- not priced (gp2 volumes above 170 GB can burst to 250 MiB/s). io1 volumes are not proposed yet:
-- their IOPS lines are not matched to the volume here. CO2e saved: none (same SSD storage).
WITH volumes AS (
    SELECT
        line.account_id,
        line.region,
        line.resource_id,
        line.currency,
        max(line.team) AS team,
        max(line.env) AS env,
        sum(line.amortized_cost) AS gp2_cost,
        sum(line.usage_quantity) AS gb_months,
        sum(line.usage_quantity * 24 * coalesce(date_diff(
            'day', line.bill_billing_period_start_date, line.bill_billing_period_end_date
        ), 30)) / count(DISTINCT date_trunc('hour', line.line_item_usage_start_date)) AS size_gb
    FROM stg_line_items AS line
    CROSS JOIN rec_parameters AS p
    WHERE line.usage_type LIKE '%EBS:VolumeUsage.gp2'
        AND line.charge_category = 'Usage'
        AND line.resource_id IS NOT NULL
        AND date_diff('day', line.usage_date, p.last_usage_date) < p.lookback_days
    GROUP BY line.account_id, line.region, line.resource_id, line.currency
),

assumptions AS (
    SELECT
        max(CASE WHEN assumption = 'ebs_gp3_storage_unit_cost_assumption' THEN value / 100 END)
            AS gp3_cost_ratio,
        max(CASE WHEN assumption = 'ebs_gp3_extra_iops_assumption' THEN value END)
            AS iops_gb_month_ratio
    FROM savings_assumptions
),

priced AS (
    SELECT
        v.*,
        v.gp2_cost / v.gb_months AS gp2_rate,
        v.gp2_cost / v.gb_months * a.gp3_cost_ratio AS gp3_rate,
        greatest(0, least(3 * v.size_gb, 16000) - 3000) AS extra_iops,
        a.gp3_cost_ratio,
        a.iops_gb_month_ratio,
        p.month_factor
    FROM volumes AS v
    CROSS JOIN assumptions AS a
    CROSS JOIN rec_parameters AS p
    WHERE v.gb_months > 0 AND v.gp2_cost > 0
),

saved AS (
    SELECT
        priced.*,
        gp2_cost * month_factor AS current_monthly_cost,
        gp2_cost * month_factor * (1 - gp3_cost_ratio) AS storage_saving,
        extra_iops * iops_gb_month_ratio * gp3_rate AS extra_iops_monthly_cost
    FROM priced
)

SELECT
    'gp3' AS kind,
    account_id,
    region,
    resource_id,
    'ec2:volume' AS resource_type,
    'AmazonEC2' AS service_code,
    team,
    env,
    currency,
    current_monthly_cost,
    storage_saving - extra_iops_monthly_cost AS estimated_monthly_saving,
    storage_saving - extra_iops_monthly_cost AS saving_low,
    storage_saving AS saving_high,
    0.0 AS co2e_kg_monthly_saved,
    CASE WHEN extra_iops > 0 THEN 'medium' ELSE 'high' END AS confidence,
    'gp2 volume of ' || CAST(round(size_gb, 0) AS VARCHAR) || ' GB billed '
        || CAST(round(gp2_cost, 2) AS VARCHAR) || ' ' || currency || ' in the window at '
        || CAST(round(gp2_rate, 4) AS VARCHAR) || ' per GB-month (the CUR''s rate); gp3 at '
        || CAST(round(gp3_cost_ratio * 100, 0) AS VARCHAR)
        || '% of that (CUDOS-KPI-EBS)'
        || CASE
            WHEN extra_iops > 0
                THEN ', plus ' || CAST(round(extra_iops, 0) AS VARCHAR)
                    || ' IOPS above the 3,000 included to match gp2 ('
                    || CAST(round(extra_iops_monthly_cost, 2) AS VARCHAR) || ' a month)'
            ELSE ''
        END || '. Modify the volume type in place (no downtime).' AS evidence,
    'modify_volume_type' AS action_name,
    '{"target_type": "gp3"}' AS action_parameters,
    size_gb
FROM saved
WHERE storage_saving - extra_iops_monthly_cost > 0
