-- known_line_item_types: line item types that staging does not know how to cost.
-- Grain: one row per billing period, unknown line_item_line_item_type and currency.
-- Inputs: stg_line_items.
-- Staging counts an unknown type as an Adjustment at its unblended cost; AWS adds types now and
-- then, and each new one needs its charge category and amortization rule decided. The cost is
-- given per currency, as amounts in different currencies are never added up.
SELECT
    billing_period,
    line_item_type,
    currency,
    count(*) AS line_items,
    sum(unblended_cost) AS unblended_cost,
    'line item type ' || coalesce('''' || line_item_type || '''', 'NULL')
        || ' is not one staging knows; its ' || CAST(count(*) AS VARCHAR)
        || ' line items in ' || currency || ' count as Adjustment at unblended cost' AS reason
FROM stg_line_items
WHERE line_item_type IS NULL
    OR NOT (
        line_item_type IN (
            'Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation',
            'Fee', 'RIFee', 'SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee',
            'Tax', 'Credit', 'Refund'
        )
        OR line_item_type LIKE '%Discount'
    )
GROUP BY billing_period, line_item_type, currency
