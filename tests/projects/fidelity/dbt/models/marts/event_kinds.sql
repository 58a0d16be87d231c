select kind, count(*) as events
from {{ source('ext', 'ext_events') }}
group by 1
