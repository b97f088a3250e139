-- commitment_coverage_daily: the share of commitment-eligible usage that Savings Plans and
-- Reserved Instances covered, per day and service, in on-demand dollars.
-- Grain: usage_date x commitment_type x service_code x service x currency (rows only where
--   there was eligible usage).
-- Inputs: stg_line_items.
-- Columns: usage_date, billing_period, commitment_type ('savings_plan' | 'reservation'),
--   service_code, service, currency, covered_on_demand_cost, eligible_on_demand_cost,
--   uncovered_on_demand_cost (eligible usage this commitment type did not cover), coverage
--   (0..1, NULL when nothing was eligible).
-- Usage is valued at its on-demand equivalent: line_item_unblended_cost for on-demand and
-- Savings Plans covered lines (AWS bills covered usage at on-demand rates before the negation),
-- pricing_public_on_demand_cost for DiscountedUsage (AWS leaves its unblended cost 0).
-- Eligible usage, as Cost Explorer's coverage reports count it (Spot and split cost allocation
-- lines never are):
--   savings_plan  usage that a Compute Savings Plan can cover: EC2 instance hours (lines with an
--                 instance type), Lambda duration and Fargate, in AmazonEC2, AWSLambda,
--                 AmazonECS and AmazonEKS. Covered = SavingsPlanCoveredUsage; eligible = covered
--                 + the on-demand rest (usage an RI covered is not eligible: RIs apply first).
--   reservation   instance usage (lines with an instance type: EC2, RDS, ElastiCache, ...).
--                 Covered = DiscountedUsage; eligible = RI covered + Savings Plans covered + the
--                 on-demand rest, i.e. all the instance usage that an RI could have covered.
-- Coverage by hours (Cost Explorer's RI default) is not computed; the dollar view matches its
-- Savings Plans coverage and CUDOS.
WITH usage_lines AS (
    SELECT
        usage_date,
        billing_period,
        service_code,
        service,
        currency,
        line_item_type,
        CASE
            WHEN line_item_type = 'DiscountedUsage' THEN public_on_demand_cost
            ELSE unblended_cost
        END AS on_demand_equivalent_cost,
        instance_type IS NOT NULL AS is_instance_usage,
        service_code IN ('AmazonEC2', 'AWSLambda', 'AmazonECS', 'AmazonEKS')
        AND (
            instance_type IS NOT NULL
            OR usage_type LIKE '%Lambda-GB-Second%'
            OR usage_type LIKE '%Fargate%'
        ) AS is_savings_plan_eligible
    FROM stg_line_items
    WHERE parent_resource_id IS NULL
        AND (
            line_item_type IN ('SavingsPlanCoveredUsage', 'DiscountedUsage')
            OR (line_item_type = 'Usage' AND pricing_model = 'on_demand')
        )
),

by_type AS (
    SELECT
        usage_date,
        billing_period,
        'savings_plan' AS commitment_type,
        service_code,
        service,
        currency,
        sum(
            CASE WHEN line_item_type = 'SavingsPlanCoveredUsage'
                THEN on_demand_equivalent_cost ELSE 0 END
        ) AS covered_on_demand_cost,
        sum(
            CASE WHEN line_item_type = 'Usage' THEN on_demand_equivalent_cost ELSE 0 END
        ) AS uncovered_on_demand_cost
    FROM usage_lines
    WHERE line_item_type = 'SavingsPlanCoveredUsage'
        OR (line_item_type = 'Usage' AND is_savings_plan_eligible)
    GROUP BY usage_date, billing_period, service_code, service, currency
    UNION ALL
    SELECT
        usage_date,
        billing_period,
        'reservation' AS commitment_type,
        service_code,
        service,
        currency,
        sum(
            CASE WHEN line_item_type = 'DiscountedUsage'
                THEN on_demand_equivalent_cost ELSE 0 END
        ) AS covered_on_demand_cost,
        sum(
            CASE WHEN line_item_type <> 'DiscountedUsage'
                THEN on_demand_equivalent_cost ELSE 0 END
        ) AS uncovered_on_demand_cost
    FROM usage_lines
    WHERE is_instance_usage
    GROUP BY usage_date, billing_period, service_code, service, currency
)

SELECT
    usage_date,
    billing_period,
    commitment_type,
    service_code,
    service,
    currency,
    covered_on_demand_cost,
    covered_on_demand_cost + uncovered_on_demand_cost AS eligible_on_demand_cost,
    uncovered_on_demand_cost,
    covered_on_demand_cost / nullif(covered_on_demand_cost + uncovered_on_demand_cost, 0) AS coverage
FROM by_type
