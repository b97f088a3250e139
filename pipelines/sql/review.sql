-- The monthly review's queries: what the dashboard's pages and `finops report` show.
-- One query per `-- name:` block. They run on copies of the marts (pipelines/review.py loads
-- each mart once per build into an in-memory DuckDB under its own name), never on line items.
-- Parameters: $period (the billing period reviewed, 'YYYY-MM'), $previous (the one before),
-- $trend_start (the first of the twelve periods of a trend), $currency (amounts are never added
-- across currencies), $measure ('unblended', 'amortized' or 'net'), $account, $team and $env
-- (NULL for all), $as_of_day (the day of month of the latest data in $period).
-- A block that names a mart runs only when the warehouse has that mart.

-- name: currencies
-- The currencies of the warehouse, the largest amortized spend first.
SELECT currency, sum(amortized_cost) AS amortized_cost
FROM daily_cost
GROUP BY currency
ORDER BY amortized_cost DESC, currency;

-- name: periods
SELECT DISTINCT billing_period
FROM daily_cost
WHERE currency = $currency
ORDER BY billing_period;

-- name: accounts
SELECT DISTINCT account_id
FROM daily_cost
WHERE currency = $currency
ORDER BY account_id;

-- name: owners
-- The team and env values showback knows, for the filters.
SELECT DISTINCT dimension, value
FROM showback
WHERE dimension IN ('team', 'env') AND currency = $currency
ORDER BY dimension, value;

-- name: latest_day
-- The latest day with data in the period (any account): how far the month has got.
SELECT max(usage_date) AS usage_date
FROM daily_cost
WHERE billing_period = $period AND currency = $currency;

-- name: daily_spend
-- Cost per day of the period reviewed and the one before (daily_cost has no team or env).
SELECT
    billing_period,
    usage_date,
    sum(CASE $measure
        WHEN 'unblended' THEN unblended_cost
        WHEN 'net' THEN net_amortized_cost
        ELSE amortized_cost END) AS cost
FROM daily_cost
WHERE currency = $currency
    AND billing_period IN ($period, $previous)
    AND ($account IS NULL OR account_id = $account)
GROUP BY billing_period, usage_date
ORDER BY usage_date;

-- name: monthly_trend
-- The twelve periods up to the one reviewed, by service: the eight largest over the window,
-- the rest as 'Other services'.
WITH by_service AS (
    SELECT
        billing_period,
        service,
        sum(CASE $measure
            WHEN 'unblended' THEN unblended_cost
            WHEN 'net' THEN net_amortized_cost
            ELSE amortized_cost END) AS cost
    FROM daily_cost
    WHERE currency = $currency
        AND billing_period BETWEEN $trend_start AND $period
        AND ($account IS NULL OR account_id = $account)
    GROUP BY billing_period, service
),

ranked AS (
    SELECT service, row_number() OVER (ORDER BY sum(cost) DESC, service) AS rank
    FROM by_service
    GROUP BY service
)

SELECT
    by_service.billing_period,
    CASE WHEN ranked.rank <= 8 THEN by_service.service ELSE 'Other services' END AS service,
    sum(by_service.cost) AS cost
FROM by_service
JOIN ranked USING (service)
GROUP BY 1, 2
ORDER BY 1, 3 DESC;

-- name: service_movers
-- Services whose cost changed most between the same point of last period and this one: days
-- of the previous period up to $as_of_day against the period reviewed so far.
WITH both_periods AS (
    SELECT
        service,
        sum(CASE $measure
            WHEN 'unblended' THEN unblended_cost
            WHEN 'net' THEN net_amortized_cost
            ELSE amortized_cost END) FILTER (WHERE billing_period = $period) AS current_cost,
        sum(CASE $measure
            WHEN 'unblended' THEN unblended_cost
            WHEN 'net' THEN net_amortized_cost
            ELSE amortized_cost END) FILTER (
            WHERE billing_period = $previous AND day(usage_date) <= $as_of_day
        ) AS previous_cost
    FROM daily_cost
    WHERE currency = $currency
        AND billing_period IN ($period, $previous)
        AND ($account IS NULL OR account_id = $account)
    GROUP BY service
)

SELECT
    service,
    coalesce(current_cost, 0) AS current_cost,
    coalesce(previous_cost, 0) AS previous_cost,
    coalesce(current_cost, 0) - coalesce(previous_cost, 0) AS change
FROM both_periods
ORDER BY abs(change) DESC, service
LIMIT 5;

-- name: team_movers
-- Teams whose showback changed most between the previous period and this one (whole periods:
-- showback is monthly).
WITH both_periods AS (
    SELECT
        value AS team,
        sum(CASE $measure WHEN 'unblended' THEN unblended_cost
            WHEN 'net' THEN net_amortized_cost ELSE amortized_cost END)
            FILTER (WHERE billing_period = $period) AS current_cost,
        sum(CASE $measure WHEN 'unblended' THEN unblended_cost
            WHEN 'net' THEN net_amortized_cost ELSE amortized_cost END)
            FILTER (WHERE billing_period = $previous) AS previous_cost
    FROM showback
    WHERE dimension = 'team'
        AND currency = $currency
        AND billing_period IN ($period, $previous)
    GROUP BY value
)

SELECT
    team,
    coalesce(current_cost, 0) AS current_cost,
    coalesce(previous_cost, 0) AS previous_cost,
    coalesce(current_cost, 0) - coalesce(previous_cost, 0) AS change
FROM both_periods
ORDER BY abs(change) DESC, team
LIMIT 5;

-- name: showback_dimensions
SELECT DISTINCT dimension
FROM showback
ORDER BY dimension = 'team' DESC, dimension;

-- name: showback_table
-- One dimension's showback for the period: direct cost, its share of shared costs, total.
SELECT
    value,
    sum(CASE $measure
        WHEN 'unblended' THEN direct_unblended_cost
        WHEN 'net' THEN direct_net_amortized_cost
        ELSE direct_amortized_cost END) AS direct_cost,
    sum(CASE $measure
        WHEN 'unblended' THEN shared_unblended_cost
        WHEN 'net' THEN shared_net_amortized_cost
        ELSE shared_amortized_cost END) AS shared_cost,
    sum(CASE $measure WHEN 'unblended' THEN unblended_cost
            WHEN 'net' THEN net_amortized_cost ELSE amortized_cost END) AS cost,
    sum(CASE $measure WHEN 'unblended' THEN unblended_cost
            WHEN 'net' THEN net_amortized_cost ELSE amortized_cost END)
        / nullif(sum(sum(CASE $measure WHEN 'unblended' THEN unblended_cost
            WHEN 'net' THEN net_amortized_cost ELSE amortized_cost END)) OVER (), 0) AS share
FROM showback
WHERE billing_period = $period
    AND currency = $currency
    AND dimension = $dimension
    AND ($value IS NULL OR value = $value)
GROUP BY value
ORDER BY value = '(untagged)', cost DESC, value;

-- name: showback_trend
SELECT
    billing_period,
    value,
    sum(CASE $measure WHEN 'unblended' THEN unblended_cost
            WHEN 'net' THEN net_amortized_cost ELSE amortized_cost END) AS cost
FROM showback
WHERE billing_period BETWEEN $trend_start AND $period
    AND currency = $currency
    AND dimension = $dimension
    AND ($value IS NULL OR value = $value)
GROUP BY billing_period, value
ORDER BY billing_period, value;

-- name: tag_coverage
-- Coverage of each tag dimension in the period, for one account or all ('(all)').
SELECT dimension, tagged_amortized_cost, total_amortized_cost, coverage
FROM tag_coverage
WHERE billing_period = $period
    AND currency = $currency
    AND account_id = coalesce($account, '(all)')
    AND service = '(all)'
ORDER BY dimension;

-- name: anomaly_list
-- Anomalies whose days overlap the period, largest impact first. An anomaly found on an
-- account (or a tag's value) is shown under the account (or team/env) filter that matches it;
-- the others (total, service, region, ...) show whatever the filters.
SELECT
    anomaly_id,
    kind,
    dimension,
    dimension_value,
    first_day,
    last_day,
    measure,
    currency,
    expected_cost,
    actual_cost,
    impact,
    impact_pct,
    score,
    projected_monthly_cost,
    root_cause,
    detected_at
FROM anomalies
WHERE currency = $currency
    AND strftime(first_day, '%Y-%m') <= $period
    AND strftime(last_day, '%Y-%m') >= $period
    AND ($account IS NULL OR dimension <> 'account' OR dimension_value = $account)
    AND ($team IS NULL OR dimension <> 'tag:team' OR dimension_value = $team)
    AND ($env IS NULL OR dimension <> 'tag:env' OR dimension_value = $env)
ORDER BY impact DESC, anomaly_id;

-- name: anomaly_days
SELECT usage_date, expected_cost, actual_cost
FROM anomaly_days
WHERE anomaly_id = $anomaly_id
ORDER BY usage_date;

-- name: recommendation_list
-- Open recommendations, largest saving first, for the account, team and env filters.
SELECT
    recommendation_id,
    kind,
    account_id,
    region,
    resource_id,
    team,
    env,
    currency,
    current_monthly_cost,
    estimated_monthly_saving,
    saving_low,
    saving_high,
    co2e_kg_monthly_saved,
    confidence,
    evidence,
    action,
    counts_in_total,
    total_monthly_saving,
    total_saving_low,
    total_saving_high,
    co2e_kg_total_saved
FROM recommendations
WHERE currency = $currency
    AND ($account IS NULL OR account_id = $account)
    AND ($team IS NULL OR team = $team)
    AND ($env IS NULL OR env = $env)
ORDER BY estimated_monthly_saving DESC, recommendation_id;

-- name: commitment_utilization
-- Utilization of each commitment type over the period: used over paid.
SELECT
    commitment_type,
    sum(commitment_cost) AS commitment_cost,
    sum(used_commitment_cost) AS used_commitment_cost,
    sum(unused_commitment_cost) AS unused_commitment_cost,
    sum(used_commitment_cost) / nullif(sum(commitment_cost), 0) AS utilization
FROM commitment_utilization_daily
WHERE strftime(usage_date, '%Y-%m') = $period
    AND currency = $currency
    AND ($account IS NULL OR account_id = $account)
GROUP BY commitment_type
ORDER BY commitment_type;

-- name: commitment_utilization_days
SELECT
    usage_date,
    commitment_type,
    sum(used_commitment_cost) / nullif(sum(commitment_cost), 0) AS utilization
FROM commitment_utilization_daily
WHERE strftime(usage_date, '%Y-%m') = $period
    AND currency = $currency
    AND ($account IS NULL OR account_id = $account)
GROUP BY usage_date, commitment_type
ORDER BY usage_date, commitment_type;

-- name: commitment_coverage
-- Coverage of eligible on-demand cost per commitment type and service over the period.
SELECT
    commitment_type,
    service,
    sum(covered_on_demand_cost) AS covered_on_demand_cost,
    sum(eligible_on_demand_cost) AS eligible_on_demand_cost,
    sum(covered_on_demand_cost) / nullif(sum(eligible_on_demand_cost), 0) AS coverage
FROM commitment_coverage_daily
WHERE strftime(usage_date, '%Y-%m') = $period
    AND currency = $currency
GROUP BY commitment_type, service
ORDER BY eligible_on_demand_cost DESC, commitment_type, service;

-- name: commitments_expiring
SELECT
    commitment_type,
    commitment_arn,
    account_id,
    end_date,
    days_to_expiry,
    monthly_commitment_cost,
    currency
FROM commitments_expiring
WHERE currency = $currency
    AND ($account IS NULL OR account_id = $account)
ORDER BY days_to_expiry, commitment_arn;

-- name: commitment_savings
SELECT
    commitment_type,
    sum(on_demand_equivalent_cost) AS on_demand_equivalent_cost,
    sum(amortized_cost) AS amortized_cost,
    sum(realized_savings) AS realized_savings
FROM commitment_savings_monthly
WHERE billing_period = $period
    AND currency = $currency
GROUP BY commitment_type
ORDER BY commitment_type;

-- name: carbon_by
-- kg CO2e of the period by one of service, region or team ($by), for the filters.
SELECT
    CASE $by WHEN 'service' THEN service WHEN 'region' THEN region ELSE team END AS name,
    sum(operational_co2e_kg) AS operational_co2e_kg,
    sum(embodied_co2e_kg) AS embodied_co2e_kg,
    sum(co2e_kg) AS co2e_kg,
    sum(energy_kwh) AS energy_kwh
FROM carbon_monthly
WHERE billing_period = $period
    AND ($account IS NULL OR account_id = $account)
    AND ($team IS NULL OR team = $team)
    AND ($env IS NULL OR env = $env)
GROUP BY 1
ORDER BY co2e_kg DESC, name;

-- name: carbon_trend
SELECT billing_period, sum(co2e_kg) AS co2e_kg
FROM carbon_monthly
WHERE billing_period BETWEEN $trend_start AND $period
    AND ($account IS NULL OR account_id = $account)
    AND ($team IS NULL OR team = $team)
    AND ($env IS NULL OR env = $env)
GROUP BY billing_period
ORDER BY billing_period;

-- name: graviton_share
-- Share of instance usage cost that runs on Arm (Graviton) in the period, per service.
SELECT
    service,
    sum(CASE $measure
        WHEN 'unblended' THEN unblended_cost
        WHEN 'net' THEN net_amortized_cost
        ELSE amortized_cost END) FILTER (WHERE processor_architecture = 'arm64') AS arm64_cost,
    sum(CASE $measure
        WHEN 'unblended' THEN unblended_cost
        WHEN 'net' THEN net_amortized_cost
        ELSE amortized_cost END) AS instance_cost
FROM instance_architecture_monthly
WHERE billing_period = $period
    AND currency = $currency
    AND ($account IS NULL OR account_id = $account)
    AND ($team IS NULL OR team = $team)
    AND ($env IS NULL OR env = $env)
GROUP BY service
ORDER BY instance_cost DESC, service;

-- name: freshness
-- Per period and currency: the days covered, the latest day, the total as the marts see it.
SELECT
    billing_period,
    currency,
    min(usage_date) AS first_day,
    max(usage_date) AS last_day,
    count(DISTINCT usage_date) AS days,
    sum(unblended_cost) AS unblended_cost,
    sum(line_items) AS line_items
FROM daily_cost
GROUP BY billing_period, currency
ORDER BY billing_period DESC, currency;

-- name: invoice_reconciliation
SELECT
    billing_period,
    bill_invoice_id,
    currency,
    unblended_cost_line_items,
    unblended_cost_run_log,
    difference
FROM invoice_reconciliation
ORDER BY billing_period DESC, bill_invoice_id;
