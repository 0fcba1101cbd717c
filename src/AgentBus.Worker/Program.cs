var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults("worker");

var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
