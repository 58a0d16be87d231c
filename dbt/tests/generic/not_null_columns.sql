{#
    None of `column_names` is null in the model: one test (one query, one dbt node) where a
    `not_null` per column costs a node each, the larger part of a small re-run's dbt time.
    Each failing row names the columns that are null in it.

    Usage, at model level:
        data_tests:
          - not_null_columns:
              arguments:
                column_names: [message_id, channel, sent_at]
#}
{% test not_null_columns(model, column_names) %}

select *
from (
    select
        concat_ws(', '
            {%- for column in column_names %},
            case when {{ adapter.quote(column) }} is null then '{{ column }}' end
            {%- endfor %}
        ) as null_columns
    from {{ model }}
    where {% for column in column_names %}{{ adapter.quote(column) }} is null{% if not loop.last %} or {% endif %}{% endfor %}
) as failing

{% endtest %}
