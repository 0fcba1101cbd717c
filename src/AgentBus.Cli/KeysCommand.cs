using System.CommandLine;

namespace AgentBus.Cli;

/// <summary>keys (admin): list, create (the key is printed this once) and revoke API keys.</summary>
public static class KeysCommand
{
    public static Command Create(CliConsole console)
    {
        var keys = new Command("keys", "API keys (admin): list, create, revoke.");

        var listJson = CliApp.JsonOption();
        var list = new Command("list", "API keys, newest first, revoked ones included; never a secret.") { listJson };
        list.SetSessionAction(console, async (parse, session, ct) =>
        {
            var found = (await session.Api.ListKeysAsync(ct)).Require();
            if (parse.GetValue(listJson))
            {
                Output.Json(console, found);
                return ExitCodes.Ok;
            }
            Output.Table(console, ["ID", "NAME", "ROLE", "PREFIX", "CREATED", "BY", "REVOKED", "LAST USED"],
                found.Items.Select(k => new[] { k.Id.ToString(), k.Name, k.Role, k.Prefix, Output.Time(k.CreatedAt), k.CreatedBy, Output.Time(k.RevokedAt), Output.Time(k.LastUsedAt) }));
            return ExitCodes.Ok;
        });
        keys.Subcommands.Add(list);

        var name = new Argument<string>("name") { Description = "What the key is for." };
        var role = new Option<string>("--role") { Description = "viewer, operator or admin.", Required = true };
        role.AcceptOnlyFromAmong("viewer", "operator", "admin");
        var createJson = CliApp.JsonOption();
        var create = new Command("create", "Create a key; it is printed this once.") { name, role, createJson };
        create.SetSessionAction(console, async (parse, session, ct) =>
        {
            var created = (await session.Api.CreateKeyAsync(parse.GetValue(name), parse.GetValue(role), ct)).Require();
            if (parse.GetValue(createJson))
            {
                Output.Json(console, created);
            }
            else
            {
                console.Out.WriteLine(created.Key);
                await console.Error.WriteLineAsync($"Key {created.Id} ({created.Role}) created; it is shown this once.");
            }
            return ExitCodes.Ok;
        });
        keys.Subcommands.Add(create);

        var id = new Argument<Guid>("id") { Description = "The key's id (from keys list)." };
        var revoke = new Command("revoke", "Revoke a key: the api refuses it from now on.") { id };
        revoke.SetSessionAction(console, async (parse, session, ct) =>
        {
            (await session.Api.RevokeKeyAsync(parse.GetValue(id), ct)).Check();
            console.Out.WriteLine($"Key {parse.GetValue(id)} revoked.");
            return ExitCodes.Ok;
        });
        keys.Subcommands.Add(revoke);
        return keys;
    }
}
