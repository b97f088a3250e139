-- graviton_share: the share of instance spend that runs on Arm (Graviton), per period and
-- service.
-- Grain: one row per billing period, service and currency with instance usage.
-- Inputs: stg_line_items.
-- Instance usage is usage with an instance family (EC2, RDS, ElastiCache, ...); the
-- architecture comes from staging's processor_architecture.
SELECT
    billing_period,
    service,
    currency,
    sum(amortized_cost) FILTER (WHERE processor_architecture = 'arm64') AS arm64_cost,
    sum(amortized_cost) AS instance_cost,
    sum(amortized_cost) FILTER (WHERE processor_architecture = 'arm64')
        / nullif(sum(amortized_cost), 0) AS arm64_share
FROM stg_line_items
WHERE charge_category = 'Usage'
    AND instance_family IS NOT NULL
GROUP BY billing_period, service, currency
ORDER BY billing_period, instance_cost DESC, service
