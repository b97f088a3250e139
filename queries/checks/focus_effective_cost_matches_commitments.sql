-- focus_effective_cost_matches_commitments: FOCUS's amortized commitment accounting: what a
-- commitment costs in a billing period (its recurring fee plus its upfront fee amortized into
-- the period) is exactly the EffectiveCost of its Usage rows, used and unused.
-- Grain: one row per billing period, commitment (CommitmentDiscountId) and currency where the
-- two differ by more than a thousandth of a cent.
-- Inputs: focus.
-- Only commitments with a recurring Purchase row that carries x_AmortizedUpfrontCost are
-- compared: lines that came from a FOCUS export have no amortized upfront fee per period (FOCUS
-- bills an upfront fee once, as a One-Time purchase), so their commitments cannot be checked
-- within one period. A commitment without a used row in the period is not compared either:
-- its unused row then carries the whole commitment by AWS's construction, so there is nothing
-- to cross-check, and a fee line on its own (as in hand-made test data) is not a full month.
WITH purchased AS (
    SELECT
        x_BillingPeriod AS billing_period,
        CommitmentDiscountId AS commitment_id,
        BillingCurrency AS currency,
        sum(BilledCost + x_AmortizedUpfrontCost) AS commitment_cost
    FROM focus
    WHERE ChargeCategory = 'Purchase'
        AND ChargeFrequency = 'Recurring'
        AND CommitmentDiscountId IS NOT NULL
        AND x_AmortizedUpfrontCost IS NOT NULL
    GROUP BY x_BillingPeriod, CommitmentDiscountId, BillingCurrency
),

consumed AS (
    SELECT
        x_BillingPeriod AS billing_period,
        CommitmentDiscountId AS commitment_id,
        BillingCurrency AS currency,
        sum(EffectiveCost) AS effective_cost
    FROM focus
    WHERE ChargeCategory = 'Usage'
        AND CommitmentDiscountId IS NOT NULL
    GROUP BY x_BillingPeriod, CommitmentDiscountId, BillingCurrency
    HAVING count(*) FILTER (WHERE CommitmentDiscountStatus = 'Used') > 0
)

SELECT
    purchased.billing_period,
    purchased.commitment_id,
    purchased.currency,
    purchased.commitment_cost,
    consumed.effective_cost AS effective_cost,
    'commitment ' || purchased.commitment_id || ' costs '
        || CAST(purchased.commitment_cost AS VARCHAR) || ' ' || purchased.currency || ' in '
        || purchased.billing_period || ' (recurring plus amortized upfront fee) but the '
        || 'EffectiveCost of its usage, used and unused, is '
        || CAST(consumed.effective_cost AS VARCHAR) AS reason
FROM purchased
INNER JOIN consumed
    ON purchased.billing_period = consumed.billing_period
    AND purchased.commitment_id = consumed.commitment_id
    AND purchased.currency = consumed.currency
WHERE abs(purchased.commitment_cost - consumed.effective_cost) > 1e-5
