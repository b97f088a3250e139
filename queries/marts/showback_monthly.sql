-- showback_monthly: what each team spent per environment in each billing period and currency.
-- Grain: billing_period x team x env x currency.
-- Inputs: stg_line_items.
-- A line without a team (or env) tag is shown as the team (or env) '(untagged)', never dropped,
-- so the rows of a period and currency add up to that currency's total for the period
-- (checks/showback_reconciles.sql).
-- The amounts are in the row's currency and are never added across currencies: a period can mix
-- them (AWS bills some accounts in EUR). share_of_period is the row's share of the amortized
-- cost of its period in its currency (NULL when that is 0), so the shares of a period add up to
-- 1 for each currency.
-- Shared costs (support, tax, unused commitments) are not yet split across teams: they stay
-- with the tags of their own line, which for most of them is '(untagged)'.
WITH by_owner AS (
    SELECT
        billing_period,
        coalesce(team, '(untagged)') AS team,
        coalesce(env, '(untagged)') AS env,
        currency,
        sum(unblended_cost) AS unblended_cost,
        sum(amortized_cost) AS amortized_cost,
        sum(net_amortized_cost) AS net_amortized_cost,
        count(*) AS line_items
    FROM stg_line_items
    GROUP BY billing_period, coalesce(team, '(untagged)'), coalesce(env, '(untagged)'), currency
)

SELECT
    billing_period,
    team,
    env,
    currency,
    unblended_cost,
    amortized_cost,
    net_amortized_cost,
    amortized_cost / nullif(sum(amortized_cost) OVER (PARTITION BY billing_period, currency), 0)
        AS share_of_period,
    line_items
FROM by_owner
