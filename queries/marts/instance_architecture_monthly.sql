-- instance_architecture_monthly: instance usage cost per processor architecture, the input of
-- the Graviton share on the dashboard's Sustainability page and in the report.
-- Grain: billing_period x account_id x service x team x env x processor_architecture x currency.
-- Inputs: stg_line_items.
-- Instance usage is usage (charge_category 'Usage') with an instance family: EC2, RDS,
-- ElastiCache, OpenSearch and the like. processor_architecture comes from staging ('arm64' for
-- Graviton, 'x86_64', or '(unknown)' when the CUR does not say). team and env are
-- '(untagged)' when the line carries no such tag, as in showback_monthly.
-- The amounts are in the row's currency; add rows up only within one currency.
SELECT
    billing_period,
    account_id,
    service,
    coalesce(team, '(untagged)') AS team,
    coalesce(env, '(untagged)') AS env,
    coalesce(processor_architecture, '(unknown)') AS processor_architecture,
    currency,
    sum(unblended_cost) AS unblended_cost,
    sum(amortized_cost) AS amortized_cost,
    sum(net_amortized_cost) AS net_amortized_cost,
    sum(usage_quantity) AS usage_quantity
FROM stg_line_items
WHERE charge_category = 'Usage'
    AND instance_family IS NOT NULL
GROUP BY
    billing_period,
    account_id,
    service,
    coalesce(team, '(untagged)'),
    coalesce(env, '(untagged)'),
    coalesce(processor_architecture, '(unknown)'),
    currency
