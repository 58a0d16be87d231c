-- A classifier's confidence is a probability: a value outside 0..1 means the step wrote the
-- wrong column (a logit, a percentage). Null is allowed: a rule-based classifier may have none.
{{ config(tags=['after_classify']) }}

select message_id, label, confidence
from {{ source('steps', 'message_labels') }}
where confidence < 0 or confidence > 1 or isnan(confidence)
