-- commitment_coverage: how much of the usage that Savings Plans and Reserved Instances could
-- cover they did cover, per billing period and service.
-- Grain: one row per billing period, service and currency with usage priced on demand,
-- reserved or under a Savings Plan.
-- Inputs: stg_line_items.
-- Coverage here is by public on-demand value, as Cost Explorer's Savings Plans coverage is:
-- the on-demand price of the covered usage over the on-demand price of all such usage. Spot
-- usage is left out (commitments do not apply to it). savings is what the covered usage would
-- have cost on demand minus what it costs with its commitment (amortized).
SELECT
    billing_period,
    service,
    currency,
    sum(public_on_demand_cost) FILTER (WHERE pricing_model = 'savings_plan')
        AS savings_plan_covered_on_demand_cost,
    sum(public_on_demand_cost) FILTER (WHERE pricing_model = 'reserved')
        AS reserved_covered_on_demand_cost,
    sum(public_on_demand_cost) AS on_demand_equivalent_cost,
    sum(public_on_demand_cost) FILTER (WHERE pricing_model IN ('savings_plan', 'reserved'))
        / nullif(sum(public_on_demand_cost), 0) AS coverage,
    sum(public_on_demand_cost - amortized_cost) FILTER (
        WHERE pricing_model IN ('savings_plan', 'reserved')
    ) AS savings
FROM stg_line_items
WHERE charge_category = 'Usage'
    AND pricing_model IN ('on_demand', 'savings_plan', 'reserved')
GROUP BY billing_period, service, currency
HAVING sum(public_on_demand_cost) FILTER (WHERE pricing_model IN ('savings_plan', 'reserved')) > 0
ORDER BY billing_period, on_demand_equivalent_cost DESC, service
