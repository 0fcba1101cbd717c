var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults("api");

var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
