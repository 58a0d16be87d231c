-- The classify_messages step's table is one valid label per message: no message twice, no
-- null id or label, only the labels the marts know, and a confidence that is a probability
-- (a value outside 0..1 means the step wrote the wrong column: a logit, a percentage; null is
-- allowed: a rule-based classifier may have none). One query instead of one test per rule:
-- each dbt test node costs more than its SQL on a small re-run. Each row says what is wrong.
{{ config(tags=['after_classify']) }}

with labels as (

    select * from {{ source('steps', 'message_labels') }}

)

select message_id, label, confidence, 'message labelled more than once' as problem
from labels
where message_id in (select message_id from labels group by message_id having count(*) > 1)

union all

select message_id, label, confidence, 'null message_id or label'
from labels
where message_id is null or label is null

union all

select message_id, label, confidence, 'label not in question, feedback, bug, praise, other'
from labels
where label not in ('question', 'feedback', 'bug', 'praise', 'other')

union all

select message_id, label, confidence, 'confidence outside 0..1'
from labels
where confidence < 0 or confidence > 1 or isnan(confidence)
