-- cost_per_team: what each team cost per billing period, all environments together.
-- Grain: one row per billing period, team and currency.
-- Inputs: showback_monthly.
-- Spend without a team tag is the team '(untagged)', so a period's rows add up to its total.
SELECT
    billing_period,
    team,
    currency,
    sum(amortized_cost) AS amortized_cost,
    sum(unblended_cost) AS unblended_cost,
    sum(share_of_period) AS share_of_period
FROM showback_monthly
GROUP BY billing_period, team, currency
ORDER BY billing_period, amortized_cost DESC, team
