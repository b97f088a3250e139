-- stg_line_items: every CUR line item, with the columns that every later model uses derived once.
-- Grain: one row per row of line_items; nothing dropped, nothing added (checks/reconciliation.sql).
-- Inputs: line_items (the warehouse), tag_key_aliases and tag_value_aliases (seeds + finops.toml).
-- Columns: the contract's columns and billing_period, then usage_date, account_id,
--   payer_account_id, region, service, service_code, usage_type, resource_id, line_item_type,
--   charge_category, pricing_model, currency, unblended_cost, amortized_cost,
--   net_unblended_cost, net_amortized_cost, public_on_demand_cost, usage_quantity,
--   commitment_type ('savings_plan' | 'reservation' | NULL), commitment_arn, parent_resource_id,
--   split_cost, split_unused_cost, instance_type, tags, tag_dimensions, instance_family,
--   processor_architecture, team, env.
--
-- currency is line_item_currency_code: every cost column of the line is in it, and one billing
-- period can mix currencies (AWS bills some accounts in EUR, for one), so a sum of costs is
-- only meaningful per currency. Legacy CUR always fills the column; 'USD' stands in for an
-- empty one only so that hand-made or partial exports still have a currency.
--
-- charge_category, in FOCUS's terms, from line_item_line_item_type:
--   Usage, DiscountedUsage, SavingsPlanCoveredUsage, SavingsPlanNegation  -> Usage
--   Fee, RIFee, SavingsPlanUpfrontFee, SavingsPlanRecurringFee            -> Purchase
--   Tax                                                                    -> Tax
--   Credit, and every discount type (EdpDiscount, BundledDiscount, PrivateRateDiscount,
--     DistributorDiscount, SppDiscount, Discount: any type ending in Discount) -> Credit
--   Refund, and any type not listed here                                   -> Adjustment
-- Discounts and credits lower this period's charges, as FOCUS's Credit does; a Refund corrects
-- charges billed before, which is what FOCUS calls an Adjustment. checks/known_line_item_types
-- reports any type this list does not know.
-- pricing_model: savings_plan (SavingsPlanCoveredUsage, SavingsPlanNegation), reserved
--   (DiscountedUsage), spot (Usage with pricing_term Spot or a SpotUsage usage type), on_demand
--   (other Usage); NULL for everything that is not usage.
--
-- amortized_cost follows AWS's rules, as Cost Explorer and the CUDOS dashboards apply them:
--   SavingsPlanCoveredUsage   savings_plan_savings_plan_effective_cost
--   SavingsPlanRecurringFee   savings_plan_total_commitment_to_date - savings_plan_used_commitment
--                             (the unused commitment, as its own line)
--   SavingsPlanNegation       0  (the covered usage's effective cost replaces it)
--   SavingsPlanUpfrontFee     0  (spread over the period by the two lines above)
--   DiscountedUsage           reservation_effective_cost
--   RIFee                     reservation_unused_amortized_upfront_fee_for_billing_period
--                             + reservation_unused_recurring_fee (the unused reservation)
--   Fee with a reservation ARN (the RI's upfront purchase)  0 (spread as above)
--   Refund of ComputeSavingsPlans  0 (a returned plan's fees were never in amortized cost;
--                             CUDOS's summary view does the same)
--   anything else             line_item_unblended_cost (usage, tax, credits, other refunds,
--                             discounts)
-- net_amortized_cost applies the same rules to AWS's *_net_* columns (after discounts), and
-- net_unblended_cost is line_item_net_unblended_cost; each falls back to the gross column on
-- rows where AWS leaves the net one empty (reports without discounts have no net columns). An
-- empty cost column counts as 0. The unused Savings Plan commitment has no net column: it is
-- scaled by the line's own net/gross ratio, else by the upfront commitment's, as CUDOS does.
-- A discount line (EdpDiscount, PrivateRateDiscount, ...) has 0 as its net cost where AWS
-- writes the net columns: its discount is already inside the net cost of the lines it
-- discounts. Without net columns it falls back to its gross amount like every line, so the
-- net total is then the gross total after discounts.
-- public_on_demand_cost is pricing_public_on_demand_cost, except 0 on SavingsPlanNegation lines
-- (the covered usage line already carries it; CUDOS's public cost does the same).
--
-- Split cost allocation (EKS pods, ECS tasks): AWS adds a usage line per pod or task and hour,
-- with split_line_item_parent_resource_id naming the EC2 instance whose cost it allocates. The
-- instance's own line keeps the bill; the split lines only re-allocate it (AWS writes them at
-- zero line item cost; their split_line_item_split_cost and _unused_cost are shares of the
-- instance's amortized cost). Every measure of a split line is therefore 0 here, so nothing is
-- counted twice, and split_cost / split_unused_cost carry the allocation for container
-- showback (NULL on other lines). As in CUDOS's SCAD views, a pod's cost is split_cost +
-- split_unused_cost.
--
-- Tags: each key of resource_tags is folded (lower case, a leading user: or user_ removed,
-- then ':', '_', '-' and spaces removed: user:Team, user_team and Team all become team) and its
-- value trimmed; empty values count as missing. `tags` maps folded keys to values; when two
-- source keys fold to one key, the one that sorts first wins. Each dimension of
-- tag_key_aliases takes the value of its first alias, by priority, that the row carries,
-- lower-cased and mapped through tag_value_aliases: `tag_dimensions` holds them all, `team` and
-- `env` are also columns of their own (NULL when the row carries neither tag).
-- The tag work is done once per distinct resource_tags map, not once per line item.
WITH tag_sets AS (
    SELECT DISTINCT resource_tags
    FROM line_items
),

-- One row per tag of each distinct map. Written with UNNEST, window functions and map(keys,
-- values) rather than DuckDB's list lambdas, so that sqlglot writes the same logic for Athena.
source_tags AS (
    SELECT
        tag_sets.resource_tags,
        tag_keys.source_key,
        trim(tag_sets.resource_tags[tag_keys.source_key]) AS value
    FROM tag_sets
    CROSS JOIN UNNEST(map_keys(tag_sets.resource_tags)) AS tag_keys (source_key)
),

-- Folded key: lower case, a leading user: or user_ removed, then '-', ':', '_' and spaces
-- removed (replace, not a regexp with DuckDB's 'g' flag, which Trino's regexp_replace lacks).
folded_tags AS (
    SELECT
        resource_tags,
        replace(replace(replace(replace(
            regexp_replace(lower(trim(source_key)), '^user[:_]', ''), '-', ''
        ), ':', ''), '_', ''), ' ', '') AS tag_key,
        source_key,
        value
    FROM source_tags
),

-- When two source keys fold to one key, the one that sorts first wins.
tags_by_key AS (
    SELECT resource_tags, tag_key, min_by(value, source_key) AS tag_value
    FROM folded_tags
    WHERE tag_key <> '' AND value <> ''
    GROUP BY resource_tags, tag_key
),

tag_maps AS (
    SELECT
        resource_tags,
        map(list(tag_key ORDER BY tag_key), list(tag_value ORDER BY tag_key)) AS tags
    FROM tags_by_key
    GROUP BY resource_tags
),

-- Each dimension takes the value of its first alias (by priority, then name) that the map
-- carries, lower-cased, then mapped through the value aliases.
dimension_candidates AS (
    SELECT
        tags_by_key.resource_tags,
        tag_key_aliases.dimension,
        lower(tags_by_key.tag_value) AS dimension_value,
        row_number() OVER (
            PARTITION BY tags_by_key.resource_tags, tag_key_aliases.dimension
            ORDER BY tag_key_aliases.priority, tag_key_aliases.alias
        ) AS alias_rank
    FROM tags_by_key
    INNER JOIN tag_key_aliases
        ON tags_by_key.tag_key = tag_key_aliases.alias
),

value_rules AS (
    SELECT dimension, value, min(canonical) AS canonical
    FROM tag_value_aliases
    GROUP BY dimension, value
),

dimension_maps AS (
    SELECT
        dimension_candidates.resource_tags,
        map(
            list(dimension_candidates.dimension ORDER BY dimension_candidates.dimension),
            list(
                coalesce(value_rules.canonical, dimension_candidates.dimension_value)
                ORDER BY dimension_candidates.dimension
            )
        ) AS tag_dimensions
    FROM dimension_candidates
    LEFT JOIN value_rules
        ON dimension_candidates.dimension = value_rules.dimension
        AND dimension_candidates.dimension_value = value_rules.value
    WHERE dimension_candidates.alias_rank = 1
    GROUP BY dimension_candidates.resource_tags
),

canonical_tag_sets AS (
    SELECT
        tag_sets.resource_tags,
        coalesce(tag_maps.tags, CAST(map() AS MAP(VARCHAR, VARCHAR))) AS tags,
        coalesce(dimension_maps.tag_dimensions, CAST(map() AS MAP(VARCHAR, VARCHAR)))
            AS tag_dimensions
    FROM tag_sets
    LEFT JOIN tag_maps
        ON tag_sets.resource_tags IS NOT DISTINCT FROM tag_maps.resource_tags
    LEFT JOIN dimension_maps
        ON tag_sets.resource_tags IS NOT DISTINCT FROM dimension_maps.resource_tags
),

costed AS (
    SELECT
        line_items.*,
        CAST(line_items.line_item_usage_start_date AS DATE) AS usage_date,
        line_items.line_item_usage_account_id AS account_id,
        line_items.bill_payer_account_id AS payer_account_id,
        coalesce(
            line_items.product_region_code,
            line_items.product['region'],
            nullif(
                regexp_extract(
                    line_items.line_item_availability_zone,
                    '^([a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+)',
                    1
                ),
                ''
            ),
            'global'
        ) AS region,
        coalesce(line_items.product['product_name'], line_items.line_item_product_code) AS service,
        line_items.line_item_product_code AS service_code,
        line_items.line_item_usage_type AS usage_type,
        line_items.line_item_resource_id AS resource_id,
        line_items.line_item_line_item_type AS line_item_type,
        CASE
            WHEN line_items.line_item_line_item_type IN (
                'Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation'
            ) THEN 'Usage'
            WHEN line_items.line_item_line_item_type IN (
                'Fee', 'RIFee', 'SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee'
            ) THEN 'Purchase'
            WHEN line_items.line_item_line_item_type = 'Tax' THEN 'Tax'
            WHEN line_items.line_item_line_item_type = 'Credit' THEN 'Credit'
            WHEN line_items.line_item_line_item_type LIKE '%Discount' THEN 'Credit'
            ELSE 'Adjustment'
        END AS charge_category,
        CASE
            WHEN line_items.line_item_line_item_type IN (
                'SavingsPlanCoveredUsage', 'SavingsPlanNegation'
            ) THEN 'savings_plan'
            WHEN line_items.line_item_line_item_type = 'DiscountedUsage' THEN 'reserved'
            WHEN line_items.line_item_line_item_type = 'Usage'
                AND (
                    line_items.pricing_term = 'Spot'
                    OR line_items.line_item_usage_type LIKE '%SpotUsage%'
                ) THEN 'spot'
            WHEN line_items.line_item_line_item_type = 'Usage' THEN 'on_demand'
        END AS pricing_model,
        coalesce(line_items.line_item_currency_code, 'USD') AS currency,
        CASE
            WHEN line_items.split_line_item_parent_resource_id IS NOT NULL THEN 0
            ELSE coalesce(line_items.line_item_unblended_cost, 0)
        END AS unblended_cost,
        CASE
            WHEN line_items.split_line_item_parent_resource_id IS NOT NULL THEN 0
            WHEN line_items.line_item_line_item_type = 'SavingsPlanCoveredUsage'
                THEN coalesce(line_items.savings_plan_savings_plan_effective_cost, 0)
            WHEN line_items.line_item_line_item_type = 'SavingsPlanRecurringFee'
                THEN coalesce(line_items.savings_plan_total_commitment_to_date, 0)
                    - coalesce(line_items.savings_plan_used_commitment, 0)
            WHEN line_items.line_item_line_item_type = 'SavingsPlanNegation' THEN 0
            WHEN line_items.line_item_line_item_type = 'SavingsPlanUpfrontFee' THEN 0
            WHEN line_items.line_item_line_item_type = 'DiscountedUsage'
                THEN coalesce(line_items.reservation_effective_cost, 0)
            WHEN line_items.line_item_line_item_type = 'RIFee'
                THEN coalesce(
                    line_items.reservation_unused_amortized_upfront_fee_for_billing_period, 0
                ) + coalesce(line_items.reservation_unused_recurring_fee, 0)
            WHEN line_items.line_item_line_item_type = 'Fee'
                AND line_items.reservation_reservation_a_r_n IS NOT NULL THEN 0
            WHEN line_items.line_item_line_item_type = 'Refund'
                AND line_items.line_item_product_code = 'ComputeSavingsPlans' THEN 0
            ELSE coalesce(line_items.line_item_unblended_cost, 0)
        END AS amortized_cost,
        CASE
            WHEN line_items.split_line_item_parent_resource_id IS NOT NULL THEN 0
            ELSE coalesce(
                line_items.line_item_net_unblended_cost, line_items.line_item_unblended_cost, 0
            )
        END AS net_unblended_cost,
        CASE
            WHEN line_items.split_line_item_parent_resource_id IS NOT NULL THEN 0
            WHEN line_items.line_item_line_item_type = 'SavingsPlanCoveredUsage'
                THEN coalesce(
                    line_items.savings_plan_net_savings_plan_effective_cost,
                    line_items.savings_plan_savings_plan_effective_cost,
                    0
                )
            WHEN line_items.line_item_line_item_type = 'SavingsPlanRecurringFee'
                THEN (
                    coalesce(line_items.savings_plan_total_commitment_to_date, 0)
                    - coalesce(line_items.savings_plan_used_commitment, 0)
                ) * CASE
                    WHEN line_items.line_item_net_unblended_cost IS NOT NULL
                        AND coalesce(line_items.line_item_unblended_cost, 0) <> 0
                        THEN line_items.line_item_net_unblended_cost
                            / line_items.line_item_unblended_cost
                    WHEN line_items.savings_plan_net_amortized_upfront_commitment_for_billing_period
                        IS NOT NULL
                        AND coalesce(
                            line_items.savings_plan_amortized_upfront_commitment_for_billing_period,
                            0
                        ) <> 0
                        THEN line_items.savings_plan_net_amortized_upfront_commitment_for_billing_period
                            / line_items.savings_plan_amortized_upfront_commitment_for_billing_period
                    ELSE 1
                END
            WHEN line_items.line_item_line_item_type = 'SavingsPlanNegation' THEN 0
            WHEN line_items.line_item_line_item_type = 'SavingsPlanUpfrontFee' THEN 0
            WHEN line_items.line_item_line_item_type = 'DiscountedUsage'
                THEN coalesce(
                    line_items.reservation_net_effective_cost,
                    line_items.reservation_effective_cost,
                    0
                )
            WHEN line_items.line_item_line_item_type = 'RIFee'
                THEN coalesce(
                    line_items.reservation_net_unused_amortized_upfront_fee_for_billing_period,
                    line_items.reservation_unused_amortized_upfront_fee_for_billing_period,
                    0
                ) + coalesce(
                    line_items.reservation_net_unused_recurring_fee,
                    line_items.reservation_unused_recurring_fee,
                    0
                )
            WHEN line_items.line_item_line_item_type = 'Fee'
                AND line_items.reservation_reservation_a_r_n IS NOT NULL THEN 0
            WHEN line_items.line_item_line_item_type = 'Refund'
                AND line_items.line_item_product_code = 'ComputeSavingsPlans' THEN 0
            ELSE coalesce(
                line_items.line_item_net_unblended_cost, line_items.line_item_unblended_cost, 0
            )
        END AS net_amortized_cost,
        CASE
            WHEN line_items.split_line_item_parent_resource_id IS NOT NULL THEN 0
            WHEN line_items.line_item_line_item_type = 'SavingsPlanNegation' THEN 0
            ELSE coalesce(line_items.pricing_public_on_demand_cost, 0)
        END AS public_on_demand_cost,
        CASE
            WHEN line_items.savings_plan_savings_plan_a_r_n IS NOT NULL THEN 'savings_plan'
            WHEN line_items.reservation_reservation_a_r_n IS NOT NULL THEN 'reservation'
        END AS commitment_type,
        coalesce(
            line_items.savings_plan_savings_plan_a_r_n, line_items.reservation_reservation_a_r_n
        ) AS commitment_arn,
        line_items.split_line_item_parent_resource_id AS parent_resource_id,
        CASE WHEN line_items.split_line_item_parent_resource_id IS NOT NULL
            THEN coalesce(line_items.split_line_item_split_cost, 0) END AS split_cost,
        CASE WHEN line_items.split_line_item_parent_resource_id IS NOT NULL
            THEN coalesce(line_items.split_line_item_unused_cost, 0) END AS split_unused_cost,
        line_items.line_item_usage_amount AS usage_quantity,
        -- Spot and some RDS lines leave product_instance_type empty; their usage type names the
        -- instance after the colon (SpotUsage:c5.large, InstanceUsage:db.r5.large).
        coalesce(
            line_items.product_instance_type,
            nullif(
                regexp_extract(
                    line_items.line_item_usage_type,
                    'Usage:((db\.|cache\.)?[a-z][a-z0-9-]*\.[a-z0-9]+)$',
                    1
                ),
                ''
            )
        ) AS instance_type,
        canonical_tag_sets.tags,
        canonical_tag_sets.tag_dimensions
    FROM line_items
    LEFT JOIN canonical_tag_sets
        ON line_items.resource_tags IS NOT DISTINCT FROM canonical_tag_sets.resource_tags
),

classified AS (
    SELECT
        costed.*,
        -- m5 from m5.large; db.r5 from db.r5.large (RDS) and cache.t3 from cache.t3.micro.
        nullif(regexp_extract(costed.instance_type, '^((db\.|cache\.)?[^.]+)\.', 1), '')
            AS instance_family
    FROM costed
)

SELECT
    classified.*,
    -- Graviton families carry a g after the generation (m6g, c7gn, r8gd, db.r6g), a1 is the
    -- first Graviton and mac2 is Apple silicon; Lambda and Fargate on Arm say so in the usage
    -- type. Other instance families are x86; lines without an instance stay NULL.
    CASE
        WHEN classified.product['physical_processor'] ILIKE '%graviton%' THEN 'arm64'
        WHEN regexp_matches(
            classified.instance_family, '^((db|cache)\.)?(a1|mac2.*|[a-z]+[0-9]+g.*)$'
        ) THEN 'arm64'
        WHEN classified.usage_type LIKE '%-ARM%' THEN 'arm64'
        WHEN classified.instance_family IS NOT NULL THEN 'x86_64'
    END AS processor_architecture,
    classified.tag_dimensions['team'] AS team,
    classified.tag_dimensions['env'] AS env
FROM classified
