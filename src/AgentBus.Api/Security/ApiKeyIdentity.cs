using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using AgentBus.Data;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace AgentBus.Api.Security;

/// <summary>A key that authenticated: who it is and what it may do.</summary>
public sealed record ApiKeyIdentity(string Caller, string Role, Guid? Id);
