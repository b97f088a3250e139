-- anomaly_cube: the daily usage cost that the anomaly detector scans (pipelines/anomalies.py).
-- Grain: usage_date x currency x account_id x service x region x usage_type x resource_id x
--   tag_dimensions. Input: stg_line_items. The measure column is the one placeholder,
--   {measure}, filled from a fixed list of cost columns (pipelines.anomaly_config.MEASURES).
--
-- Only usage is scanned (charge_category 'Usage': on-demand, reserved, Savings Plan covered
-- and spot usage at the measure's cost). Purchases (RI and Savings Plan fees, support,
-- subscriptions), tax, credits and refunds are billed on the month's first or last day whatever
-- happened that day, so they would make every month boundary look like a spike; they are left
-- out. A usage line whose interval is longer than a day (a monthly usage charge such as a hosted
-- zone) is spread evenly over the days it covers instead of landing on the month's first day.
-- Missing: the purchases left out are not compared month over month yet, so a new monthly
-- subscription or a larger RI fee does not alert (it shows in the summary's month totals).
WITH usage AS (
    SELECT
        currency,
        account_id,
        coalesce(service, '') AS service,
        coalesce(region, '') AS region,
        coalesce(usage_type, '') AS usage_type,
        coalesce(resource_id, '') AS resource_id,
        tag_dimensions,
        usage_date,
        line_item_usage_start_date AS starts,
        line_item_usage_end_date AS ends,
        {measure} AS cost
    FROM stg_line_items
    WHERE charge_category = 'Usage' AND {measure} <> 0
),
spread AS (
    SELECT
        * EXCLUDE (starts, ends, usage_date, cost),
        CASE
            WHEN ends - starts > INTERVAL 25 HOUR
                THEN generate_series(
                    CAST(starts AS DATE), CAST(ends - INTERVAL 1 SECOND AS DATE), INTERVAL 1 DAY
                )
            ELSE [CAST(usage_date AS TIMESTAMP)]
        END AS days,
        cost
    FROM usage
),
daily AS (
    SELECT * EXCLUDE (days), CAST(unnest(days) AS DATE) AS usage_date, cost / len(days) AS day_cost
    FROM spread
)
SELECT
    usage_date,
    currency,
    account_id,
    service,
    region,
    usage_type,
    resource_id,
    tag_dimensions,
    sum(day_cost) AS cost
FROM daily
GROUP BY ALL
ORDER BY currency, usage_date
