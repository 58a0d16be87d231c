{#
    Use a model's custom schema as-is (`staging`, not `main_staging`).

    dbt's default prefixes custom schemas with the target schema so that developers sharing one
    warehouse do not collide. Here each developer has their own DuckDB file, so the plain names are
    what a notebook user expects to type: `select * from marts.user_engagement`.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
