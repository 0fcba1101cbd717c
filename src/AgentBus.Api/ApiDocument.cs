using AgentBus.Api.Security;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace AgentBus.Api;

/// <summary>
/// The OpenAPI document's title, introduction and ways to authenticate, so that /docs explains
/// the API to a newcomer and its "try it" sends a key or a token.
/// </summary>
internal sealed class ApiDocument : IOpenApiDocumentTransformer
{
    public const string Title = "Agent Bus API";
    public const string ApiKeyScheme = "ApiKey";
    public const string BearerScheme = "Bearer";

    private const string Introduction = """
        Submit a software project's requirements and Agent Bus runs a chain of agents over them: a PRD
        first, which waits for a person's approval, then the plan, architecture, UI/UX, development,
        QA and security reviews, documentation, support docs, a product review and a delivery package.

        Every `/api` call needs a caller: an API key in the `X-Api-Key` header (`./run.sh` prints the
        admin key), or a bearer token from the identity provider the api trusts. Roles: viewer reads,
        operator also submits projects and acts on jobs, admin also manages keys and budgets and
        erases projects (`DELETE /api/projects/{project_id}`, for privacy requests) and subscribes
        webhooks to job events (`/api/webhooks`: signed deliveries, retried for a day, see docs/webhooks.md).
        Errors are RFC 9457 problem details; follow a job live on `GET /api/jobs/{job_id}/events`.
        """;

    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo { Title = Title, Version = document.Info?.Version ?? "v1", Description = Introduction };
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[ApiKeyScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Header,
            Name = ApiKeyAuthenticationHandler.Header,
            Description = "An Agent Bus API key (POST /api/keys makes one; the key is shown once).",
        };
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "JWT",
            Description = "A JWT from the identity provider configured under AgentBus:Auth:Jwt.",
        };
        // Either one admits a caller: two requirements, each naming one scheme.
        document.Security =
        [
            new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyScheme, document)] = [] },
            new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] },
        ];
        return Task.CompletedTask;
    }
}
