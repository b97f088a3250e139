-- top_services_latest_month: the ten services that cost most in the latest billing period.
-- Grain: one row per service and currency of the latest billing period (top 10 by amortized
-- cost), with the previous period's cost beside it.
-- Inputs: daily_cost.
-- "Latest" is the newest billing period in the warehouse, which may still be in progress.
-- Amounts are in the row's currency; a period that mixes currencies ranks each currency apart.
WITH by_period AS (
    SELECT
        billing_period,
        service,
        currency,
        sum(unblended_cost) AS unblended_cost,
        sum(amortized_cost) AS amortized_cost
    FROM daily_cost
    GROUP BY billing_period, service, currency
),

periods AS (
    SELECT
        max(billing_period) AS latest,
        max(billing_period) FILTER (
            WHERE billing_period < (SELECT max(billing_period) FROM daily_cost)
        ) AS previous
    FROM daily_cost
)

SELECT
    latest.billing_period,
    latest.service,
    latest.currency,
    latest.amortized_cost,
    latest.unblended_cost,
    latest.amortized_cost / nullif(
        sum(latest.amortized_cost) OVER (PARTITION BY latest.currency), 0
    ) AS share_of_period,
    previous.amortized_cost AS previous_amortized_cost
FROM by_period AS latest
CROSS JOIN periods
LEFT JOIN by_period AS previous
    ON previous.billing_period = periods.previous
    AND previous.service = latest.service
    AND previous.currency = latest.currency
WHERE latest.billing_period = periods.latest
ORDER BY latest.amortized_cost DESC
LIMIT 10
