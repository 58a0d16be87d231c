{#
    The combination of `combination_of_columns` is unique in the model (a composite key).
    Like dbt_utils' test of the same name, which this project cannot install offline.

    Usage, at model level:
        data_tests:
          - unique_combination_of_columns:
              arguments:
                combination_of_columns: [day, feature_key]
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
