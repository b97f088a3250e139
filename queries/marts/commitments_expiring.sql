-- commitments_expiring: the Savings Plans and Reserved Instances that end within 90 days of the
-- latest data, with what they cost a month: the renewals to decide on now.
-- Grain: commitment_type x commitment_arn x account_id x currency.
-- Inputs: stg_line_items.
-- Columns: commitment_type ('savings_plan' | 'reservation'), commitment_arn, account_id (the
--   owner), start_date, end_date, latest_data_date, days_to_expiry, billing_period (the latest
--   period the commitment was billed in), monthly_commitment_cost, currency.
-- The latest data is the latest usage_date of any line item. end_date is the UTC day of
-- savings_plan_end_time or reservation_end_time (AWS writes ISO 8601 text such as
-- YYYY-MM-DDTHH:MM:SS.sssZ); a commitment qualifies when 0 <= days_to_expiry <= 90.
-- monthly_commitment_cost is its cost in its latest billing period: for a Savings Plan the
-- period's recurring plus amortized upfront commitment (savings_plan_recurring_commitment_for_
-- billing_period + savings_plan_amortized_upfront_commitment_for_billing_period, as AWS repeats
-- them on each fee line), else the sum of its hourly commitments; for a Reserved Instance the
-- RIFee's recurring fee plus reservation_amortized_upfront_fee_for_billing_period.
WITH latest AS (
    SELECT max(usage_date) AS latest_data_date
    FROM stg_line_items
),

commitment_periods AS (
    SELECT
        commitment_type,
        commitment_arn,
        account_id,
        currency,
        billing_period,
        min(CAST(substr(coalesce(savings_plan_start_time, reservation_start_time), 1, 10) AS DATE))
            AS start_date,
        max(CAST(substr(coalesce(savings_plan_end_time, reservation_end_time), 1, 10) AS DATE))
            AS end_date,
        CASE
            WHEN commitment_type = 'savings_plan'
                AND max(
                    coalesce(savings_plan_recurring_commitment_for_billing_period, 0)
                    + coalesce(savings_plan_amortized_upfront_commitment_for_billing_period, 0)
                ) > 0
                THEN max(
                    coalesce(savings_plan_recurring_commitment_for_billing_period, 0)
                    + coalesce(savings_plan_amortized_upfront_commitment_for_billing_period, 0)
                )
            WHEN commitment_type = 'savings_plan'
                THEN sum(coalesce(savings_plan_total_commitment_to_date, 0))
            ELSE sum(
                unblended_cost
                + coalesce(reservation_amortized_upfront_fee_for_billing_period, 0)
            )
        END AS monthly_commitment_cost
    FROM stg_line_items
    WHERE line_item_type IN ('SavingsPlanRecurringFee', 'RIFee')
        AND commitment_arn IS NOT NULL
    GROUP BY commitment_type, commitment_arn, account_id, currency, billing_period
),

latest_periods AS (
    SELECT
        commitment_type,
        commitment_arn,
        account_id,
        currency,
        billing_period,
        start_date,
        end_date,
        monthly_commitment_cost,
        row_number() OVER (
            PARTITION BY commitment_type, commitment_arn, account_id, currency
            ORDER BY billing_period DESC
        ) AS recency
    FROM commitment_periods
)

SELECT
    latest_periods.commitment_type,
    latest_periods.commitment_arn,
    latest_periods.account_id,
    latest_periods.start_date,
    latest_periods.end_date,
    latest.latest_data_date,
    date_diff('day', latest.latest_data_date, latest_periods.end_date) AS days_to_expiry,
    latest_periods.billing_period,
    latest_periods.monthly_commitment_cost,
    latest_periods.currency
FROM latest_periods
CROSS JOIN latest
WHERE latest_periods.recency = 1
    AND date_diff('day', latest.latest_data_date, latest_periods.end_date) BETWEEN 0 AND 90
