using AgentBus.Data;

namespace AgentBus.Webhooks;

/// <summary>
/// Deliveries are rows written in the transaction that commits their job event, one per matching
/// subscription. Why not a cursor over job_events: the event and its delivery rows commit or vanish
/// together, so none is lost (a crash before the commit leaves neither), and the unique key
/// (subscription, job, seq) plus the id generated once per row means a retry, a second dispatcher
/// or a restart re-sends the same row under the same webhook-id; a cursor would need its own
/// commit after the send and would either skip or duplicate rows across a crash in between.
/// </summary>
public static class WebhookOutbox
{
    /// <summary>
    /// The delivery rows for the job events just written in this transaction (<paramref name="events"/>:
    /// those that <see cref="WebhookEvents.IsSource"/>); the payload is fixed here, so every attempt
    /// signs the same body.
    /// </summary>
    internal static SqlStatement Insert(IEnumerable<(Guid JobId, int Seq)> events)
    {
        var list = events.ToList();
        return new(
            """
            INSERT INTO webhook_deliveries (id, subscription_id, job_id, seq, event, payload)
            SELECT gen_random_uuid(), s.id, e.job_id, e.seq, k.event,
              jsonb_build_object('type', k.event, 'timestamp', e.created_at, 'data',
                jsonb_build_object('job_id', e.job_id, 'project_id', j.project_id, 'project_name', p.name, 'event_seq', e.seq, 'stage', e.stage) || e.data)
            FROM unnest(@webhookJobIds, @webhookSeqs) AS w(job_id, seq)
            JOIN job_events e ON e.job_id = w.job_id AND e.seq = w.seq
            JOIN jobs j ON j.job_id = e.job_id
            JOIN projects p ON p.project_id = j.project_id
            CROSS JOIN LATERAL (SELECT CASE WHEN e.type = 'job_failed' AND e.data->>'error_code' = 'budget_exceeded'
              THEN 'budget_stopped' ELSE e.type END AS event) k
            JOIN webhook_subscriptions s ON k.event = ANY(s.events)
            """,
            new { webhookJobIds = list.Select(e => e.JobId).ToArray(), webhookSeqs = list.Select(e => e.Seq).ToArray() });
    }
}
