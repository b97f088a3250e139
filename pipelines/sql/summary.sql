-- The tables `finops run` and `finops summary` print, read from the marts only.
-- One query per `-- name:` block; each takes no parameters and returns what it prints.
-- Amounts in different currencies are never added up: currency is part of every grouping.

-- name: spend_by_month
-- Unblended (what the invoice says) and amortized (commitments spread over their use) cost.
SELECT
    billing_period,
    currency,
    sum(unblended_cost) AS unblended_cost,
    sum(amortized_cost) AS amortized_cost,
    sum(line_items) AS line_items
FROM daily_cost
GROUP BY billing_period, currency
ORDER BY billing_period, currency;

-- name: top_services
-- The five largest services of the latest billing period, by amortized cost, per currency.
WITH latest AS (SELECT max(billing_period) AS billing_period FROM daily_cost)
SELECT
    daily_cost.billing_period,
    service,
    currency,
    sum(amortized_cost) AS amortized_cost,
    sum(amortized_cost)
        / nullif(sum(sum(amortized_cost)) OVER (PARTITION BY currency), 0) AS share
FROM daily_cost
JOIN latest USING (billing_period)
GROUP BY daily_cost.billing_period, service, currency
QUALIFY row_number() OVER (PARTITION BY currency ORDER BY sum(amortized_cost) DESC, service) <= 5
ORDER BY currency, amortized_cost DESC, service;

-- name: showback_by_team
-- Amortized cost per team in the latest billing period, shared costs split as finops.toml
-- says; untagged spend is its own row.
WITH latest AS (SELECT max(billing_period) AS billing_period FROM showback_monthly)
SELECT
    showback_monthly.billing_period,
    value AS team,
    currency,
    sum(amortized_cost) AS amortized_cost,
    sum(amortized_cost)
        / nullif(sum(sum(amortized_cost)) OVER (PARTITION BY currency), 0) AS share
FROM showback_monthly
JOIN latest USING (billing_period)
WHERE dimension = 'team'
GROUP BY showback_monthly.billing_period, team, currency
ORDER BY currency, amortized_cost DESC, team;

-- name: tag_coverage
-- Share of amortized cost that carries each showback tag, per billing period.
SELECT
    billing_period,
    dimension,
    currency,
    sum(tagged_amortized_cost) AS tagged_amortized_cost,
    sum(total_amortized_cost) AS total_amortized_cost,
    sum(tagged_amortized_cost) / nullif(sum(total_amortized_cost), 0) AS coverage
FROM tag_coverage
WHERE account_id <> '(all)' AND service = '(all)'
GROUP BY billing_period, dimension, currency
ORDER BY billing_period, dimension, currency;
