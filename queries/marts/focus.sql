-- focus: the line items as FOCUS 1.2 columns (FinOps Open Cost and Usage Specification), for
-- FOCUS-native tools and analysts.
-- Grain: one row per FOCUS charge: one per line item, except that each RIFee and
-- SavingsPlanRecurringFee line gives two: the recurring Purchase of the commitment and the Usage
-- row of its unused part.
-- Inputs: stg_line_items, focus_service_categories (seed: AWS product code -> ServiceCategory).
-- Columns: BilledCost, EffectiveCost, ListCost, ContractedCost, ChargeCategory, ChargeClass,
--   ChargeFrequency, ChargeDescription, PricingCategory, CommitmentDiscountId,
--   CommitmentDiscountCategory, CommitmentDiscountType, CommitmentDiscountStatus,
--   CommitmentDiscountName, SubAccountId, SubAccountName, BillingAccountId, BillingAccountName,
--   ServiceName, ServiceCategory, RegionId, RegionName, AvailabilityZone, ResourceId,
--   ResourceName, ResourceType, Tags, BillingPeriodStart, BillingPeriodEnd, ChargePeriodStart,
--   ChargePeriodEnd, BillingCurrency, InvoiceId, InvoiceIssuerName, ProviderName,
--   PublisherName, ConsumedQuantity, ConsumedUnit, PricingQuantity, PricingUnit, ListUnitPrice,
--   ContractedUnitPrice, SkuId, SkuPriceId, and AWS's own as x_ columns: x_BillingPeriod ('YYYY-MM'),
--   x_LineItemType, x_ServiceCode, x_UsageType, x_Operation, x_AmortizedUpfrontCost (the
--   upfront fee amortized into this billing period, on a commitment's recurring Purchase row).
--
-- The CUR -> FOCUS mapping follows AWS's FOCUS export (Data Exports, "FOCUS 1.2 with AWS
-- columns"), line item type by line item type:
--   Usage                    Usage, Usage-Based; BilledCost = EffectiveCost = unblended cost
--   SavingsPlanCoveredUsage  Usage, Committed, status Used; BilledCost the unblended
--                            (on-demand) cost, EffectiveCost the Savings Plan effective cost
--   SavingsPlanNegation      Usage, Committed, status Used; BilledCost the negation, so a
--                            commitment's covered usage is billed at 0 in sum, EffectiveCost 0.
--                            AWS's own FOCUS export nets the two into one row billed at 0;
--                            they are kept apart here so that BilledCost is the unblended cost
--                            line for line and each invoice adds up even where a negation line
--                            is missing from the data
--   DiscountedUsage          Usage, Committed, status Used; BilledCost the unblended cost (0),
--                            EffectiveCost the reservation effective cost
--   SavingsPlanRecurringFee, RIFee
--                            Purchase, Recurring: BilledCost the fee, EffectiveCost 0; and a
--                            Usage row, status Unused: BilledCost 0, EffectiveCost the unused
--                            commitment (staging's amortized cost of the line)
--   SavingsPlanUpfrontFee, Fee with a reservation ARN
--                            Purchase, One-Time: BilledCost the fee, EffectiveCost 0 (amortized
--                            into the usage and unused rows over the term)
--   Fee                      Purchase, One-Time, at its unblended cost
--   Tax                      Tax, One-Time; Credit and *Discount lines: Credit (discounts
--                            Usage-Based, credits One-Time); Refund: Adjustment, ChargeClass
--                            Correction (it corrects charges billed before)
-- So EffectiveCost adds up to staging's amortized cost, and BilledCost to the unblended cost,
-- per invoice (checks/focus_billed_cost_matches_invoices.sql); each commitment's Usage rows
-- (used and unused) add up to its recurring fee plus its amortized upfront fee for the period
-- (checks/focus_effective_cost_matches_commitments.sql).
-- ContractedCost: the unblended cost for on-demand and Savings Plan covered usage (the rate
-- before commitment discounts, after negotiated ones), the public on-demand cost for
-- reservation covered usage (CUR has no contracted rate for it: exact when no private pricing
-- applies), 0 for unused commitment rows and Savings Plan negations, BilledCost for everything
-- else. RegionId is NULL for
-- global services. Tags are the resource tags as the export names them (user:Team), a map.
-- Lines that came from a FOCUS export (ingest keeps its columns in product['focus_*']) keep
-- their own ChargeCategory, EffectiveCost, ContractedCost and the other FOCUS columns.
-- Not yet here (no CUR column carries them without a lookup): BillingAccountType,
-- SubAccountType, ServiceSubcategory, CommitmentDiscountQuantity/Unit, CapacityReservationId/
-- Status, PricingCurrency and its prices, SkuMeter, SkuPriceDetails. Tags keep the export's
-- key spelling (user:Team), not FOCUS's user-tag prefix rules.
WITH charges AS (
    SELECT
        stg_line_items.*,
        'charge' AS charge_part,
        stg_line_items.product['focus_charge_category'] IS NOT NULL AS from_focus
    FROM stg_line_items
    UNION ALL
    SELECT
        stg_line_items.*,
        'unused' AS charge_part,
        false AS from_focus
    FROM stg_line_items
    WHERE stg_line_items.line_item_type IN ('RIFee', 'SavingsPlanRecurringFee')
        AND stg_line_items.product['focus_charge_category'] IS NULL
),

classified AS (
    SELECT
        charges.*,
        CASE
            WHEN charges.line_item_type IN (
                'SavingsPlanCoveredUsage', 'SavingsPlanNegation', 'SavingsPlanRecurringFee',
                'SavingsPlanUpfrontFee'
            ) THEN charges.savings_plan_savings_plan_a_r_n
            WHEN charges.line_item_type IN ('DiscountedUsage', 'RIFee')
                OR (charges.line_item_type = 'Fee' AND charges.reservation_reservation_a_r_n <> '')
                THEN charges.reservation_reservation_a_r_n
        END AS commitment_id,
        CASE
            WHEN charges.from_focus THEN charges.product['focus_charge_category']
            WHEN charges.charge_part = 'unused' THEN 'Usage'
            ELSE charges.charge_category
        END AS focus_charge_category
    FROM charges
)

SELECT
    CASE
        WHEN classified.from_focus THEN classified.unblended_cost
        WHEN classified.charge_part = 'unused' THEN 0
        ELSE classified.unblended_cost
    END AS BilledCost,
    CASE
        WHEN classified.from_focus
            THEN coalesce(
                TRY_CAST(classified.product['focus_effective_cost'] AS DOUBLE),
                classified.amortized_cost
            )
        WHEN classified.charge_part = 'unused' THEN classified.amortized_cost
        WHEN classified.line_item_type IN ('RIFee', 'SavingsPlanRecurringFee') THEN 0
        ELSE classified.amortized_cost
    END AS EffectiveCost,
    CASE
        WHEN classified.charge_part = 'unused' THEN 0
        ELSE classified.public_on_demand_cost
    END AS ListCost,
    CASE
        WHEN classified.from_focus
            THEN TRY_CAST(classified.product['focus_contracted_cost'] AS DOUBLE)
        WHEN classified.charge_part = 'unused' THEN 0
        WHEN classified.line_item_type = 'SavingsPlanNegation' THEN 0
        WHEN classified.line_item_type IN ('Usage', 'SavingsPlanCoveredUsage')
            THEN classified.unblended_cost
        WHEN classified.line_item_type = 'DiscountedUsage' THEN classified.public_on_demand_cost
        ELSE classified.unblended_cost
    END AS ContractedCost,
    classified.focus_charge_category AS ChargeCategory,
    CASE
        WHEN classified.product['focus_charge_class'] IS NOT NULL
            THEN classified.product['focus_charge_class']
        WHEN classified.line_item_type = 'Refund' THEN 'Correction'
    END AS ChargeClass,
    CASE
        WHEN classified.product['focus_charge_frequency'] IS NOT NULL
            THEN classified.product['focus_charge_frequency']
        WHEN classified.charge_part = 'unused' THEN 'Usage-Based'
        WHEN classified.line_item_type IN ('RIFee', 'SavingsPlanRecurringFee') THEN 'Recurring'
        WHEN classified.focus_charge_category = 'Purchase' THEN 'One-Time'
        WHEN classified.line_item_type LIKE '%Discount' THEN 'Usage-Based'
        WHEN classified.focus_charge_category IN ('Tax', 'Credit', 'Adjustment') THEN 'One-Time'
        ELSE 'Usage-Based'
    END AS ChargeFrequency,
    classified.line_item_line_item_description AS ChargeDescription,
    CASE
        WHEN classified.product['focus_pricing_category'] IS NOT NULL
            THEN classified.product['focus_pricing_category']
        WHEN classified.charge_part = 'unused' THEN 'Committed'
        WHEN classified.pricing_model IN ('reserved', 'savings_plan') THEN 'Committed'
        WHEN classified.pricing_model = 'spot' THEN 'Dynamic'
        WHEN classified.pricing_model = 'on_demand' THEN 'Standard'
        WHEN classified.focus_charge_category = 'Purchase' THEN 'Standard'
    END AS PricingCategory,
    CASE
        WHEN classified.from_focus
            THEN coalesce(classified.product['focus_commitment_discount_id'], classified.commitment_id)
        ELSE classified.commitment_id
    END AS CommitmentDiscountId,
    CASE
        WHEN classified.product['focus_commitment_discount_category'] IS NOT NULL
            THEN classified.product['focus_commitment_discount_category']
        WHEN classified.commitment_id IS NULL THEN NULL
        WHEN classified.line_item_type LIKE 'SavingsPlan%' THEN 'Spend'
        ELSE 'Usage'
    END AS CommitmentDiscountCategory,
    CASE
        WHEN classified.product['focus_commitment_discount_type'] IS NOT NULL
            THEN classified.product['focus_commitment_discount_type']
        WHEN classified.commitment_id IS NULL THEN NULL
        WHEN classified.line_item_type LIKE 'SavingsPlan%' THEN 'Savings Plan'
        ELSE 'Reservation'
    END AS CommitmentDiscountType,
    CASE
        WHEN classified.product['focus_commitment_discount_status'] IS NOT NULL
            THEN classified.product['focus_commitment_discount_status']
        WHEN classified.charge_part = 'unused' THEN 'Unused'
        WHEN classified.line_item_type IN (
            'SavingsPlanCoveredUsage', 'SavingsPlanNegation', 'DiscountedUsage'
        ) THEN 'Used'
    END AS CommitmentDiscountStatus,
    classified.product['focus_commitment_discount_name'] AS CommitmentDiscountName,
    classified.account_id AS SubAccountId,
    classified.line_item_usage_account_name AS SubAccountName,
    classified.payer_account_id AS BillingAccountId,
    classified.bill_payer_account_name AS BillingAccountName,
    classified.service AS ServiceName,
    coalesce(
        classified.product['focus_service_category'],
        focus_service_categories.service_category,
        'Other'
    ) AS ServiceCategory,
    CASE WHEN classified.region <> 'global' THEN classified.region END AS RegionId,
    coalesce(classified.product['focus_region_name'], classified.product_location) AS RegionName,
    classified.line_item_availability_zone AS AvailabilityZone,
    classified.resource_id AS ResourceId,
    classified.product['focus_resource_name'] AS ResourceName,
    classified.product['focus_resource_type'] AS ResourceType,
    classified.resource_tags AS Tags,
    coalesce(
        classified.bill_billing_period_start_date,
        CAST(CAST(classified.billing_period || '-01' AS DATE) AS TIMESTAMP)
    ) AS BillingPeriodStart,
    coalesce(
        classified.bill_billing_period_end_date,
        CAST(CAST(classified.billing_period || '-01' AS DATE) AS TIMESTAMP) + INTERVAL '1' MONTH
    ) AS BillingPeriodEnd,
    classified.line_item_usage_start_date AS ChargePeriodStart,
    classified.line_item_usage_end_date AS ChargePeriodEnd,
    classified.currency AS BillingCurrency,
    classified.bill_invoice_id AS InvoiceId,
    classified.bill_invoicing_entity AS InvoiceIssuerName,
    'AWS' AS ProviderName,
    coalesce(classified.product['focus_publisher_name'], classified.line_item_legal_entity)
        AS PublisherName,
    CASE
        WHEN classified.focus_charge_category = 'Usage' AND classified.charge_part = 'charge'
            THEN classified.usage_quantity
    END AS ConsumedQuantity,
    CASE
        WHEN classified.focus_charge_category = 'Usage' AND classified.charge_part = 'charge'
            THEN coalesce(classified.product['focus_consumed_unit'], classified.pricing_unit)
    END AS ConsumedUnit,
    CASE
        WHEN classified.from_focus
            THEN TRY_CAST(classified.product['focus_pricing_quantity'] AS DOUBLE)
        WHEN classified.charge_part = 'unused' THEN NULL
        WHEN classified.focus_charge_category IN ('Usage', 'Purchase')
            THEN classified.usage_quantity
    END AS PricingQuantity,
    CASE
        WHEN classified.charge_part = 'charge'
            AND classified.focus_charge_category IN ('Usage', 'Purchase')
            THEN classified.pricing_unit
    END AS PricingUnit,
    TRY_CAST(classified.pricing_public_on_demand_rate AS DOUBLE) AS ListUnitPrice,
    CASE
        WHEN classified.from_focus
            THEN TRY_CAST(classified.product['focus_contracted_unit_price'] AS DOUBLE)
        WHEN classified.line_item_type IN ('Usage', 'SavingsPlanCoveredUsage')
            THEN TRY_CAST(classified.line_item_unblended_rate AS DOUBLE)
    END AS ContractedUnitPrice,
    classified.product_sku AS SkuId,
    coalesce(classified.product['focus_sku_price_id'], classified.pricing_rate_code) AS SkuPriceId,
    classified.billing_period AS x_BillingPeriod,
    classified.line_item_type AS x_LineItemType,
    classified.service_code AS x_ServiceCode,
    classified.usage_type AS x_UsageType,
    classified.line_item_operation AS x_Operation,
    CASE
        WHEN classified.from_focus OR classified.charge_part = 'unused' THEN NULL
        WHEN classified.line_item_type = 'RIFee'
            THEN coalesce(classified.reservation_amortized_upfront_fee_for_billing_period, 0)
        WHEN classified.line_item_type = 'SavingsPlanRecurringFee'
            THEN coalesce(
                classified.savings_plan_amortized_upfront_commitment_for_billing_period, 0
            )
    END AS x_AmortizedUpfrontCost
FROM classified
LEFT JOIN focus_service_categories
    ON classified.service_code = focus_service_categories.service_code
