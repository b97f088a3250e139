-- carbon_monthly: estimated energy and emissions by month, account, service, region and showback
-- tags (team, env), from carbon_line_items (Cloud Carbon Footprint's method; see its header).
-- Grain: billing_period x account_id x service x region x team x env (NULL team or env: the
--   line items carry no such tag).
-- Inputs: carbon_line_items.
-- Columns: billing_period, account_id, service, region, team, env, vcpu_hours, energy_kwh,
--   operational_co2e_kg, embodied_co2e_kg, co2e_kg.
SELECT
    billing_period,
    account_id,
    service,
    region,
    team,
    env,
    sum(vcpu_hours) AS vcpu_hours,
    sum(energy_kwh) AS energy_kwh,
    sum(operational_co2e_kg) AS operational_co2e_kg,
    sum(embodied_co2e_kg) AS embodied_co2e_kg,
    sum(co2e_kg) AS co2e_kg
FROM carbon_line_items
GROUP BY billing_period, account_id, service, region, team, env
