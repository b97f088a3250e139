-- monthly_cost: every cost measure per billing period, account, service, region, usage type and
-- pricing model: the table behind the monthly review and a line-by-line check with Cost Explorer.
-- Grain: billing_period x account_id x service_code x service x region x usage_type x
--   charge_category x pricing_model x currency (pricing_model is NULL for everything that is not
--   usage: purchases, tax, credits, adjustments).
-- Inputs: stg_line_items.
-- Columns: the grain, then unblended_cost, amortized_cost, net_unblended_cost,
--   net_amortized_cost, public_on_demand_cost, usage_quantity, line_items.
-- Every charge category is included, so the rows of a period add up to its bill (unblended) and
-- to Cost Explorer's amortized view (amortized); the measures are staging's, line by line.
-- usage_quantity adds line_item_usage_amount of usage lines only (Usage, DiscountedUsage,
-- SavingsPlanCoveredUsage): a SavingsPlanNegation repeats its covered line's quantity and a fee
-- line counts reserved hours or dollars, so both count 0. Quantities are in the usage type's own
-- unit; add them up only within one usage type.
-- Amounts are in the row's currency; add rows up only within one currency.
SELECT
    billing_period,
    account_id,
    service_code,
    service,
    region,
    usage_type,
    charge_category,
    pricing_model,
    currency,
    sum(unblended_cost) AS unblended_cost,
    sum(amortized_cost) AS amortized_cost,
    sum(net_unblended_cost) AS net_unblended_cost,
    sum(net_amortized_cost) AS net_amortized_cost,
    sum(public_on_demand_cost) AS public_on_demand_cost,
    sum(
        CASE
            WHEN line_item_type IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')
                THEN coalesce(usage_quantity, 0)
            ELSE 0
        END
    ) AS usage_quantity,
    count(*) AS line_items
FROM stg_line_items
GROUP BY
    billing_period,
    account_id,
    service_code,
    service,
    region,
    usage_type,
    charge_category,
    pricing_model,
    currency
