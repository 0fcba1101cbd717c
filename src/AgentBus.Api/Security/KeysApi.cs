using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace AgentBus.Api.Security;

/// <summary>/api/keys: admins create (the key is shown once), list (never a secret) and revoke API keys.</summary>
public static class KeysApi
{
    public const int MaxName = 100;

    public static IEndpointRouteBuilder MapKeysApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/keys").WithTags("API keys").RequireAuthorization(Roles.Admin);
        group.MapPost("", Create).WithName("CreateApiKey").WithSummary("Create an API key with a role; the key is in this answer only.");
        group.MapGet("", List).WithName("ListApiKeys").WithSummary("API keys, newest first, revoked ones included; no secrets.");
        group.MapDelete("/{key_id}", Revoke).WithName("RevokeApiKey").WithSummary("Revoke an API key.");
        return app;
    }

    public static async Task<Results<Created<KeyCreated>, ValidationProblem>> Create(CreateKeyRequest request, ApiKeyStore keys, HttpContext context, CancellationToken ct)
    {
        var check = new Validator()
            .Text(request.Name, "name", MaxName)
            .Require(request.Role is not null && Roles.All.Contains(request.Role), "role", $"must be one of {string.Join(", ", Roles.All)}");
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        var (row, key) = await keys.CreateAsync(request.Name!.Trim(), request.Role!, Roles.Caller(context.User) ?? "unknown", ct);
        return TypedResults.Created((string?)null, new KeyCreated(row.Id, row.Name, row.Role, row.Prefix, key, row.CreatedAt));
    }

    public static async Task<Results<Ok<KeyList>, ValidationProblem>> List(ApiKeyStore keys, CancellationToken ct,
        [FromQuery] int limit = Paging.DefaultLimit, [FromQuery] int offset = 0)
    {
        var check = Paging.Check(limit, offset);
        if (!check.Ok)
        {
            return Problems.Invalid(check.Errors);
        }
        var (items, total) = await keys.ListAsync(limit, offset, ct);
        return TypedResults.Ok(new KeyList(items.Select(k => new KeyListItem(k.Id, k.Name, k.Role, k.Prefix, k.CreatedAt, k.CreatedBy, k.RevokedAt, k.LastUsedAt)).ToList(),
            total, limit, offset));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Revoke(Guid key_id, ApiKeyStore keys, CancellationToken ct) =>
        await keys.RevokeAsync(key_id, ct) ? TypedResults.NoContent() : Problems.NotFound("API key", key_id);
}
