-- daily_cost: cost per day, account, service and region; the input of the anomaly detector.
-- Grain: usage_date x billing_period x account_id x service_code x service x region x currency.
-- Inputs: stg_line_items.
-- Every charge category is included (usage, purchases, tax, credits), so the days of a period
-- add up to its bill; filter on the staging view for usage only. A line's day is the UTC day
-- its usage started; a monthly fee lands on the period's first day.
-- The amounts are in the row's currency: a period can mix currencies, and nothing here converts
-- them, so add rows up only within one currency.
SELECT
    usage_date,
    billing_period,
    account_id,
    service_code,
    service,
    region,
    currency,
    sum(unblended_cost) AS unblended_cost,
    sum(amortized_cost) AS amortized_cost,
    sum(net_unblended_cost) AS net_unblended_cost,
    sum(net_amortized_cost) AS net_amortized_cost,
    sum(public_on_demand_cost) AS public_on_demand_cost,
    count(*) AS line_items
FROM stg_line_items
GROUP BY usage_date, billing_period, account_id, service_code, service, region, currency
