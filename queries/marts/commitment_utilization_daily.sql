-- commitment_utilization_daily: how much of each Savings Plan and Reserved Instance was used,
-- per day: the commitment paid for, the part that covered usage, and the unused rest.
-- Grain: usage_date x commitment_type x commitment_arn x account_id x currency.
-- Inputs: stg_line_items.
-- Columns: usage_date, billing_period, commitment_type ('savings_plan' | 'reservation'),
--   commitment_arn, account_id (the account that owns the commitment), currency,
--   commitment_cost, used_commitment_cost, unused_commitment_cost, utilization (0..1, NULL
--   when nothing was committed that day).
-- Savings Plans: AWS writes a SavingsPlanRecurringFee line per plan and hour with the hour's
--   commitment (savings_plan_total_commitment_to_date: recurring plus amortized upfront) and the
--   part that covered usage (savings_plan_used_commitment); a day adds up its hours.
-- Reserved Instances: the month's RIFee line holds the reservation's cost for the period
--   (its recurring fee, line_item_unblended_cost, plus
--   reservation_amortized_upfront_fee_for_billing_period). That cost is spread evenly over the
--   reservation's days in the period (from reservation_start_time to reservation_end_time,
--   whole UTC days, the end day excluded); the used part of a day is the effective cost
--   (amortized cost) of the day's DiscountedUsage lines of that reservation. A day's unused
--   part is the rest, so a period's unused days add up to the RIFee's unused amortized upfront
--   fee plus unused recurring fee. Days come from the data: an open month has rows up to its
--   latest day only.
-- unused_commitment_cost is what amortized cost shows as the unused commitment (the
-- SavingsPlanRecurringFee and RIFee lines of stg_line_items), per day.
WITH savings_plan_days AS (
    SELECT
        usage_date,
        billing_period,
        'savings_plan' AS commitment_type,
        commitment_arn,
        account_id,
        currency,
        sum(coalesce(savings_plan_total_commitment_to_date, 0)) AS commitment_cost,
        sum(coalesce(savings_plan_used_commitment, 0)) AS used_commitment_cost
    FROM stg_line_items
    WHERE line_item_type = 'SavingsPlanRecurringFee'
        AND commitment_arn IS NOT NULL
    GROUP BY usage_date, billing_period, commitment_arn, account_id, currency
),

reservation_periods AS (
    SELECT
        billing_period,
        commitment_arn,
        account_id,
        currency,
        sum(
            unblended_cost
            + coalesce(reservation_amortized_upfront_fee_for_billing_period, 0)
        ) AS period_commitment_cost,
        greatest(
            min(CAST(bill_billing_period_start_date AS DATE)),
            coalesce(
                min(CAST(substr(reservation_start_time, 1, 10) AS DATE)),
                min(CAST(bill_billing_period_start_date AS DATE))
            )
        ) AS first_day,
        least(
            max(CAST(bill_billing_period_end_date AS DATE)),
            coalesce(
                max(CAST(substr(reservation_end_time, 1, 10) AS DATE)),
                max(CAST(bill_billing_period_end_date AS DATE))
            )
        ) AS end_day
    FROM stg_line_items
    WHERE line_item_type = 'RIFee'
        AND commitment_arn IS NOT NULL
    GROUP BY billing_period, commitment_arn, account_id, currency
),

period_days AS (
    SELECT DISTINCT billing_period, usage_date
    FROM stg_line_items
),

reservation_use AS (
    SELECT
        usage_date,
        commitment_arn,
        currency,
        sum(amortized_cost) AS used_commitment_cost
    FROM stg_line_items
    WHERE line_item_type = 'DiscountedUsage'
        AND commitment_arn IS NOT NULL
        AND parent_resource_id IS NULL
    GROUP BY usage_date, commitment_arn, currency
),

reservation_days AS (
    SELECT
        period_days.usage_date,
        reservation_periods.billing_period,
        'reservation' AS commitment_type,
        reservation_periods.commitment_arn,
        reservation_periods.account_id,
        reservation_periods.currency,
        reservation_periods.period_commitment_cost
        / nullif(date_diff('day', reservation_periods.first_day, reservation_periods.end_day), 0)
            AS commitment_cost,
        coalesce(reservation_use.used_commitment_cost, 0) AS used_commitment_cost
    FROM reservation_periods
    INNER JOIN period_days
        ON reservation_periods.billing_period = period_days.billing_period
        AND period_days.usage_date >= reservation_periods.first_day
        AND period_days.usage_date < reservation_periods.end_day
    LEFT JOIN reservation_use
        ON reservation_periods.commitment_arn = reservation_use.commitment_arn
        AND reservation_periods.currency = reservation_use.currency
        AND period_days.usage_date = reservation_use.usage_date
),

commitment_days AS (
    SELECT
        usage_date,
        billing_period,
        commitment_type,
        commitment_arn,
        account_id,
        currency,
        commitment_cost,
        used_commitment_cost
    FROM savings_plan_days
    UNION ALL
    SELECT
        usage_date,
        billing_period,
        commitment_type,
        commitment_arn,
        account_id,
        currency,
        commitment_cost,
        used_commitment_cost
    FROM reservation_days
)

SELECT
    usage_date,
    billing_period,
    commitment_type,
    commitment_arn,
    account_id,
    currency,
    commitment_cost,
    used_commitment_cost,
    commitment_cost - used_commitment_cost AS unused_commitment_cost,
    used_commitment_cost / nullif(commitment_cost, 0) AS utilization
FROM commitment_days
