-- commitment_savings_monthly: what Savings Plans and Reserved Instances saved against paying
-- on-demand for the same usage, per billing period.
-- Grain: billing_period x commitment_type x currency.
-- Inputs: stg_line_items.
-- Columns: billing_period, commitment_type ('savings_plan' | 'reservation'), currency,
--   on_demand_equivalent_cost, covered_amortized_cost, unused_commitment_cost, amortized_cost,
--   realized_savings, net_amortized_cost, net_realized_savings.
-- on_demand_equivalent_cost is what the covered usage would have cost on demand:
-- line_item_unblended_cost of SavingsPlanCoveredUsage (AWS writes the on-demand cost there) and
-- pricing_public_on_demand_cost of DiscountedUsage (its unblended cost is 0).
-- amortized_cost is what the commitments cost in the amortized view: the covered usage's
-- effective cost (covered_amortized_cost) plus the unused commitment (the amortized cost of
-- SavingsPlanRecurringFee and RIFee lines, unused_commitment_cost); upfront fees are already
-- spread into both. realized_savings = on_demand_equivalent_cost - amortized_cost, as CUDOS and
-- Cost Explorer's savings reports compute it: an under-used commitment can make it negative.
-- The net variants use net amortized cost (after discounts) instead.
SELECT
    billing_period,
    commitment_type,
    currency,
    sum(
        CASE
            WHEN line_item_type = 'SavingsPlanCoveredUsage' THEN unblended_cost
            WHEN line_item_type = 'DiscountedUsage' THEN public_on_demand_cost
            ELSE 0
        END
    ) AS on_demand_equivalent_cost,
    sum(
        CASE WHEN line_item_type IN ('SavingsPlanCoveredUsage', 'DiscountedUsage')
            THEN amortized_cost ELSE 0 END
    ) AS covered_amortized_cost,
    sum(
        CASE WHEN line_item_type IN ('SavingsPlanRecurringFee', 'RIFee')
            THEN amortized_cost ELSE 0 END
    ) AS unused_commitment_cost,
    sum(amortized_cost) AS amortized_cost,
    sum(
        CASE
            WHEN line_item_type = 'SavingsPlanCoveredUsage' THEN unblended_cost
            WHEN line_item_type = 'DiscountedUsage' THEN public_on_demand_cost
            ELSE 0
        END
    ) - sum(amortized_cost) AS realized_savings,
    sum(net_amortized_cost) AS net_amortized_cost,
    sum(
        CASE
            WHEN line_item_type = 'SavingsPlanCoveredUsage' THEN unblended_cost
            WHEN line_item_type = 'DiscountedUsage' THEN public_on_demand_cost
            ELSE 0
        END
    ) - sum(net_amortized_cost) AS net_realized_savings
FROM stg_line_items
WHERE commitment_type IS NOT NULL
    AND parent_resource_id IS NULL
    AND line_item_type IN (
        'SavingsPlanCoveredUsage', 'SavingsPlanNegation', 'SavingsPlanRecurringFee',
        'SavingsPlanUpfrontFee', 'DiscountedUsage', 'RIFee', 'Fee'
    )
GROUP BY billing_period, commitment_type, currency
