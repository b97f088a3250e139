-- carbon_showback_monthly: emissions per month by showback dimension (team, env), untagged
-- emissions as their own '(untagged)' row, so each month's rows add up to its total per dimension.
-- Grain: billing_period x dimension ('team' | 'env') x value.
-- Inputs: carbon_monthly.
-- Columns: billing_period, dimension, value, energy_kwh, operational_co2e_kg, embodied_co2e_kg,
--   co2e_kg, co2e_share (of the month's total, 0..1).
WITH by_tag AS (
    SELECT billing_period, 'team' AS dimension, coalesce(team, '(untagged)') AS value,
        energy_kwh, operational_co2e_kg, embodied_co2e_kg, co2e_kg
    FROM carbon_monthly
    UNION ALL
    SELECT billing_period, 'env' AS dimension, coalesce(env, '(untagged)') AS value,
        energy_kwh, operational_co2e_kg, embodied_co2e_kg, co2e_kg
    FROM carbon_monthly
),

totals AS (
    SELECT billing_period, dimension, value,
        sum(energy_kwh) AS energy_kwh,
        sum(operational_co2e_kg) AS operational_co2e_kg,
        sum(embodied_co2e_kg) AS embodied_co2e_kg,
        sum(co2e_kg) AS co2e_kg
    FROM by_tag
    GROUP BY billing_period, dimension, value
)

SELECT
    totals.*,
    CASE
        WHEN sum(co2e_kg) OVER (PARTITION BY billing_period, dimension) > 0
            THEN co2e_kg / sum(co2e_kg) OVER (PARTITION BY billing_period, dimension)
        ELSE 0
    END AS co2e_share
FROM totals
