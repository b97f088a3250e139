-- monthly_cost: every cost measure per billing period, account, service, region, usage type and
-- pricing model: the table behind the monthly review and a line-by-line check with Cost Explorer.
-- Grain: billing_period x account_id x service_code x service x region x usage_type x
--   charge_category x pricing_model x currency (pricing_model is NULL for everything that is not
--   usage: purchases, tax, credits, adjustments).
-- Inputs: daily_cost (the same measures by day; a month is the sum of its days).
-- Columns: the grain, then unblended_cost, amortized_cost, net_unblended_cost,
--   net_amortized_cost, public_on_demand_cost, usage_quantity, line_items.
-- Every charge category is included, so the rows of a period add up to its bill (unblended) and
-- to Cost Explorer's amortized view (amortized); the measures are staging's, line by line.
-- usage_quantity adds line_item_usage_amount of usage lines only (daily_cost's rule: Usage,
-- DiscountedUsage, SavingsPlanCoveredUsage; a SavingsPlanNegation repeats its covered line's
-- quantity and a fee line counts reserved hours or dollars). Quantities are in the usage type's
-- own unit; add them up only within one usage type.
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
    sum(usage_quantity) AS usage_quantity,
    sum(line_items) AS line_items
FROM daily_cost
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
