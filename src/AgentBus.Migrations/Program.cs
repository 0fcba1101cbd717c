using AgentBus;
using AgentBus.Data;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

// Connects as the database's administrator (ConnectionStrings__agentbus), creates the owner role and
// the app role of the services' connection string (ConnectionStrings__agentbus-app, whose password it
// sets), the monitoring role of postgres_exporter's (ConnectionStrings__agentbus-monitor, likewise),
// applies the migrations as the owner and exits: 0 when the schema is current.
const string component = "migrations";
const string appConnectionName = AgentBusJobsExtensions.PostgresConnectionName + "-app";
const string monitorConnectionName = AgentBusJobsExtensions.PostgresConnectionName + "-monitor";
var builder = Host.CreateApplicationBuilder(args);
builder.AddServiceDefaults(component);
builder.AddNpgsqlDataSource(AgentBusJobsExtensions.PostgresConnectionName, s => s.DisableHealthChecks = true);
builder.Services.AddSingleton<Migrator>();
using var host = builder.Build();

var app = new NpgsqlConnectionStringBuilder(builder.Configuration.GetConnectionString(appConnectionName)
    ?? throw new InvalidOperationException($"ConnectionStrings:{appConnectionName} (the services' connection string) is required."));
if (app.Username != DatabaseRoles.App || string.IsNullOrEmpty(app.Password))
{
    throw new InvalidOperationException($"ConnectionStrings:{appConnectionName} must log in as {DatabaseRoles.App}, with a password: 0009_roles.sql grants to that role.");
}

var monitor = new NpgsqlConnectionStringBuilder(builder.Configuration.GetConnectionString(monitorConnectionName)
    ?? throw new InvalidOperationException($"ConnectionStrings:{monitorConnectionName} (postgres_exporter's login) is required."));
if (monitor.Username != DatabaseRoles.Monitor || string.IsNullOrEmpty(monitor.Password))
{
    throw new InvalidOperationException($"ConnectionStrings:{monitorConnectionName} must log in as {DatabaseRoles.Monitor}, with a password.");
}

using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(10));
await host.Services.GetRequiredService<Migrator>().RunAsync(app.Password, monitor.Password, stop.Token);
return 0;
