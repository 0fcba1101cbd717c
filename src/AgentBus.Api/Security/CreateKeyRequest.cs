using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace AgentBus.Api.Security;

public sealed record CreateKeyRequest(string? Name, string? Role);
