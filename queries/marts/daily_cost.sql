-- daily_cost: every cost measure per day, account, service, region, usage type and pricing
-- model; the input of the anomaly detector and of daily trend charts.
-- Grain: usage_date x billing_period x account_id x service_code x service x region x
--   usage_type x charge_category x pricing_model x currency.
-- Inputs: stg_line_items.
-- Columns: the grain, then unblended_cost, amortized_cost, net_unblended_cost,
--   net_amortized_cost, public_on_demand_cost, usage_quantity, line_items.
-- Every charge category is included (usage, purchases, tax, credits), so the days of a period
-- add up to its bill and to monthly_cost; filter on charge_category = 'Usage' for usage only. A
-- line's day is the UTC day its usage started; a monthly fee lands on the period's first day.
-- usage_quantity adds line_item_usage_amount of usage lines only (Usage, DiscountedUsage,
-- SavingsPlanCoveredUsage): a SavingsPlanNegation repeats its covered line's quantity and a fee
-- line counts reserved hours or dollars, so both count 0. monthly_cost sums these rows.
-- The amounts are in the row's currency: a period can mix currencies, and nothing here converts
-- them, so add rows up only within one currency.
SELECT
    usage_date,
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
    usage_date,
    billing_period,
    account_id,
    service_code,
    service,
    region,
    usage_type,
    charge_category,
    pricing_model,
    currency
