-- month_over_month_movers: the account and service pairs whose cost moved most between the two
-- latest billing periods, up or down.
-- Grain: one row per account, service and currency (top 15 by absolute change in amortized
-- cost).
-- Inputs: daily_cost.
-- A pair that is new this period has no previous cost (change_ratio NULL); one that stopped
-- shows a latest cost of 0. Compare a period still in progress with care: it has fewer days.
WITH periods AS (
    SELECT
        max(billing_period) AS latest,
        max(billing_period) FILTER (
            WHERE billing_period < (SELECT max(billing_period) FROM daily_cost)
        ) AS previous
    FROM daily_cost
),

by_pair AS (
    SELECT
        daily_cost.account_id,
        daily_cost.service,
        daily_cost.currency,
        sum(daily_cost.amortized_cost) FILTER (
            WHERE daily_cost.billing_period = periods.latest
        ) AS latest_cost,
        sum(daily_cost.amortized_cost) FILTER (
            WHERE daily_cost.billing_period = periods.previous
        ) AS previous_cost
    FROM daily_cost
    CROSS JOIN periods
    WHERE daily_cost.billing_period IN (periods.latest, periods.previous)
    GROUP BY daily_cost.account_id, daily_cost.service, daily_cost.currency
)

SELECT
    account_id,
    service,
    currency,
    coalesce(previous_cost, 0) AS previous_amortized_cost,
    coalesce(latest_cost, 0) AS latest_amortized_cost,
    coalesce(latest_cost, 0) - coalesce(previous_cost, 0) AS change,
    (coalesce(latest_cost, 0) - previous_cost) / nullif(abs(previous_cost), 0) AS change_ratio
FROM by_pair
ORDER BY abs(coalesce(latest_cost, 0) - coalesce(previous_cost, 0)) DESC, account_id, service
LIMIT 15
