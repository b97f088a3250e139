-- rec_commitment: a Compute Savings Plan purchase sized on the hourly Savings-Plans-eligible
-- on-demand spend of the lookback window: the hourly commitment that maximises the net saving,
-- with its coverage and utilization, and what half and double that commitment would give.
-- Grain: one row per payer account and currency with eligible on-demand spend.
-- Inputs: stg_line_items, rec_parameters (compute_sp_discount, the window).
-- Columns: the recommendation columns (see recommendations) plus commitment_per_hour, coverage,
--   utilization, half_commitment_per_hour, half_monthly_saving, half_coverage, half_utilization,
--   double_commitment_per_hour, double_monthly_saving, double_coverage, double_utilization.
-- Eligible: on-demand usage lines (not Spot, not already covered by a reservation or a Savings
-- Plan) of EC2 instances, Fargate and Lambda: what a Compute Savings Plan covers.
-- With s_h the eligible spend in hour h (0 in hours without any), d the discount and x the
-- on-demand spend a commitment covers per hour (commitment c = x (1 - d)), the window's net
-- saving is sum_h min(s_h, x) - c H over its H hours. It is piecewise linear in x, so its maximum
-- is at one of the observed s_h: each is tried, the best kept. Coverage = sum min(s_h, x) /
-- sum s_h; utilization = sum min(s_h, x) (1 - d) / (c H). Saving low: the half commitment's;
-- high: the best one's. Sized on today's usage: apply the other
-- recommendations first, since they lower the eligible spend. CO2e saved: none.
WITH hourly AS (
    SELECT
        line.payer_account_id AS account_id,
        line.currency,
        date_trunc('hour', line.line_item_usage_start_date) AS usage_hour,
        sum(line.amortized_cost) AS spend
    FROM stg_line_items AS line
    CROSS JOIN rec_parameters AS p
    WHERE line.pricing_model = 'on_demand'
        AND (
            (line.service_code = 'AmazonEC2' AND regexp_matches(
                line.usage_type, '(BoxUsage|DedicatedUsage|HostUsage)'
            ))
            OR line.usage_type LIKE '%Fargate%'
            OR (line.service_code = 'AWSLambda' AND (
                line.usage_type LIKE '%Lambda-GB-Second%' OR line.usage_type LIKE '%Request%'
            ))
        )
        AND date_diff('day', line.usage_date, p.last_usage_date) < p.lookback_days
    GROUP BY
        line.payer_account_id,
        line.currency,
        date_trunc('hour', line.line_item_usage_start_date)
),

ordered AS (
    SELECT
        hourly.*,
        sum(spend) OVER (
            PARTITION BY account_id, currency ORDER BY spend
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS spend_up_to,
        row_number() OVER (PARTITION BY account_id, currency ORDER BY spend) AS position,
        count(*) OVER (PARTITION BY account_id, currency) AS hours_with_spend
    FROM hourly
),

candidates AS (
    SELECT
        o.account_id,
        o.currency,
        o.spend AS covered_per_hour,
        -- sum over the window's hours of min(s_h, x) with x = this hour's spend.
        o.spend_up_to + o.spend * (o.hours_with_spend - o.position) AS covered_spend,
        o.spend_up_to + o.spend * (o.hours_with_spend - o.position)
            - o.spend * (1 - p.compute_sp_discount) * p.window_hours AS net_saving
    FROM ordered AS o
    CROSS JOIN rec_parameters AS p
),

best AS (
    SELECT account_id, currency, max_by(covered_per_hour, net_saving) AS covered_per_hour
    FROM candidates
    GROUP BY account_id, currency
),

options AS (
    SELECT account_id, currency, 'best' AS name, covered_per_hour FROM best
    UNION ALL
    SELECT account_id, currency, 'half' AS name, covered_per_hour / 2 FROM best
    UNION ALL
    SELECT account_id, currency, 'double' AS name, covered_per_hour * 2 FROM best
),

evaluated AS (
    SELECT
        options.account_id,
        options.currency,
        options.name,
        options.covered_per_hour * (1 - p.compute_sp_discount) AS commitment_per_hour,
        sum(least(hourly.spend, options.covered_per_hour)) AS covered_spend,
        sum(hourly.spend) AS eligible_spend,
        sum(least(hourly.spend, options.covered_per_hour))
            - options.covered_per_hour * (1 - p.compute_sp_discount) * p.window_hours
            AS net_saving,
        p.window_hours,
        p.month_factor,
        p.compute_sp_discount
    FROM options
    INNER JOIN hourly
        ON options.account_id = hourly.account_id AND options.currency = hourly.currency
    CROSS JOIN rec_parameters AS p
    GROUP BY options.account_id, options.currency, options.name, options.covered_per_hour,
        p.compute_sp_discount, p.window_hours, p.month_factor
),

measured AS (
    SELECT
        evaluated.*,
        covered_spend / eligible_spend AS coverage,
        CASE
            WHEN commitment_per_hour > 0
                THEN covered_spend * (1 - compute_sp_discount)
                    / (commitment_per_hour * window_hours)
        END AS utilization
    FROM evaluated
),

pivoted AS (
    SELECT
        account_id,
        currency,
        max(CASE WHEN name = 'best' THEN commitment_per_hour END) AS commitment_per_hour,
        max(CASE WHEN name = 'best' THEN net_saving * month_factor END) AS monthly_saving,
        max(CASE WHEN name = 'best' THEN coverage END) AS coverage,
        max(CASE WHEN name = 'best' THEN utilization END) AS utilization,
        max(CASE WHEN name = 'half' THEN commitment_per_hour END) AS half_commitment_per_hour,
        max(CASE WHEN name = 'half' THEN net_saving * month_factor END) AS half_monthly_saving,
        max(CASE WHEN name = 'half' THEN coverage END) AS half_coverage,
        max(CASE WHEN name = 'half' THEN utilization END) AS half_utilization,
        max(CASE WHEN name = 'double' THEN commitment_per_hour END) AS double_commitment_per_hour,
        max(CASE WHEN name = 'double' THEN net_saving * month_factor END) AS double_monthly_saving,
        max(CASE WHEN name = 'double' THEN coverage END) AS double_coverage,
        max(CASE WHEN name = 'double' THEN utilization END) AS double_utilization,
        max(eligible_spend * month_factor) AS current_monthly_cost,
        max(compute_sp_discount) AS compute_sp_discount,
        max(window_hours) AS window_hours
    FROM measured
    GROUP BY account_id, currency
)

SELECT
    'commitment' AS kind,
    account_id,
    'global' AS region,
    account_id AS resource_id,
    'account' AS resource_type,
    'ComputeSavingsPlans' AS service_code,
    CAST(NULL AS VARCHAR) AS team,
    CAST(NULL AS VARCHAR) AS env,
    currency,
    current_monthly_cost,
    monthly_saving AS estimated_monthly_saving,
    greatest(0, half_monthly_saving) AS saving_low,
    monthly_saving AS saving_high,
    0.0 AS co2e_kg_monthly_saved,
    'medium' AS confidence,
    'Compute Savings Plan of ' || CAST(round(commitment_per_hour, 4) AS VARCHAR) || ' '
        || currency || '/hour: the commitment that maximises the net saving over the '
        || CAST(window_hours AS VARCHAR) || ' hours of Savings-Plans-eligible on-demand spend ('
        || CAST(round(current_monthly_cost, 2) AS VARCHAR) || ' a month) at a '
        || CAST(round(compute_sp_discount * 100, 1) AS VARCHAR)
        || '% discount (CUDOS-KPI-VIEW); coverage ' || CAST(round(coverage * 100, 1) AS VARCHAR)
        || '%, utilization ' || CAST(round(utilization * 100, 1) AS VARCHAR) || '%. Half ('
        || CAST(round(half_commitment_per_hour, 4) AS VARCHAR) || '/h): saves '
        || CAST(round(half_monthly_saving, 2) AS VARCHAR) || ' a month, coverage '
        || CAST(round(half_coverage * 100, 1) AS VARCHAR) || '%, utilization '
        || CAST(round(half_utilization * 100, 1) AS VARCHAR) || '%. Double ('
        || CAST(round(double_commitment_per_hour, 4) AS VARCHAR) || '/h): saves '
        || CAST(round(double_monthly_saving, 2) AS VARCHAR) || ' a month, coverage '
        || CAST(round(double_coverage * 100, 1) AS VARCHAR) || '%, utilization '
        || CAST(round(double_utilization * 100, 1) AS VARCHAR) || '%.' AS evidence,
    'review' AS action_name,
    '{"savings_plan_type": "compute", "commitment_per_hour": '
        || CAST(round(commitment_per_hour, 6) AS VARCHAR) || '}' AS action_parameters,
    commitment_per_hour,
    coverage,
    utilization,
    half_commitment_per_hour,
    half_monthly_saving,
    half_coverage,
    half_utilization,
    double_commitment_per_hour,
    double_monthly_saving,
    double_coverage,
    double_utilization
FROM pivoted
WHERE monthly_saving > 0
