-- daily_spend_trend: cost per day with its trailing 7-day average, to spot a step change.
-- Grain: one row per usage day and currency.
-- Inputs: daily_cost.
-- Monthly fees land on a period's first day (see daily_cost), which lifts that day and the
-- average of the six days after it.
WITH by_day AS (
    SELECT
        usage_date,
        currency,
        sum(amortized_cost) AS amortized_cost
    FROM daily_cost
    GROUP BY usage_date, currency
)

SELECT
    usage_date,
    currency,
    amortized_cost,
    avg(amortized_cost) OVER (
        PARTITION BY currency ORDER BY usage_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW
    ) AS trailing_7_day_average
FROM by_day
ORDER BY usage_date, currency
