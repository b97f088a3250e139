-- cost_per_team: what each team cost per billing period, all environments together.
-- Grain: one row per billing period, team and currency.
-- Inputs: showback_monthly.
-- Spend without a team tag is the team '(untagged)', so a period's rows add up to its total;
-- shared costs (finops.toml [shared_costs]) are split across the teams.
SELECT
    billing_period,
    value AS team,
    currency,
    amortized_cost,
    direct_amortized_cost,
    shared_amortized_cost,
    unblended_cost,
    share_of_period
FROM showback_monthly
WHERE dimension = 'team'
ORDER BY billing_period, amortized_cost DESC, team
