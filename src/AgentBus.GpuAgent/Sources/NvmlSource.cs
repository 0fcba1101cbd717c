using System.Runtime.InteropServices;
using System.Text;
using AgentBus.Gpu;

namespace AgentBus.GpuAgent.Sources;

/// <summary>
/// GPUs read through NVML (libnvidia-ml.so.1), the driver's stable API that nvidia-smi itself uses.
/// The library is loaded at run time and each entry point looked up, so a machine without the
/// driver (or an older driver missing one entry point) gets a clear reason instead of a crash.
/// Memory comes from nvmlDeviceGetMemoryInfo_v2 when the driver has it: its "used" excludes the
/// memory the driver reserves, as nvidia-smi's memory.used does; v1 counts that reserve as used.
/// </summary>
public sealed unsafe class NvmlSource : IGpuSource, IDisposable
{
    public const string Library = "libnvidia-ml.so.1";

    private const int Success = 0;
    private const int NotSupported = 3;
    private const int TemperatureGpu = 0;      // NVML_TEMPERATURE_GPU
    private const int StringBuffer = 96;       // NVML_DEVICE_UUID_V2_BUFFER_SIZE, NVML_DEVICE_NAME_V2_BUFFER_SIZE
    private const uint MemoryV2Version = 40 | (2u << 24); // NVML_STRUCT_VERSION(Memory, 2): sizeof(nvmlMemory_v2_t) | 2 << 24

    [StructLayout(LayoutKind.Sequential)]
    private struct Utilization
    {
        public uint Gpu;
        public uint Memory;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Memory
    {
        public ulong Total;
        public ulong Free;
        public ulong Used;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MemoryV2
    {
        public uint Version;
        public ulong Total;
        public ulong Reserved;
        public ulong Free;
        public ulong Used;
    }

    private readonly nint _library;
    private readonly delegate* unmanaged<int> _shutdown;
    private readonly delegate* unmanaged<int, byte*> _errorString;
    private readonly delegate* unmanaged<byte*, uint, int> _driverVersion;
    private readonly delegate* unmanaged<uint*, int> _count;
    private readonly delegate* unmanaged<uint, nint*, int> _handle;
    private readonly delegate* unmanaged<nint, byte*, uint, int> _uuid;
    private readonly delegate* unmanaged<nint, byte*, uint, int> _name;
    private readonly delegate* unmanaged<nint, Utilization*, int> _utilization;
    private readonly delegate* unmanaged<nint, Memory*, int> _memory;
    private readonly delegate* unmanaged<nint, MemoryV2*, int> _memoryV2;   // null on drivers before R510
    private readonly delegate* unmanaged<nint, int, uint*, int> _temperature;
    private readonly delegate* unmanaged<nint, uint*, int> _power;
    private readonly Lock _lock = new();
    private bool _disposed;

    private NvmlSource(nint library, Func<string, nint> export)
    {
        _library = library;
        _shutdown = (delegate* unmanaged<int>)export("nvmlShutdown");
        _errorString = (delegate* unmanaged<int, byte*>)export("nvmlErrorString");
        _driverVersion = (delegate* unmanaged<byte*, uint, int>)export("nvmlSystemGetDriverVersion");
        _count = (delegate* unmanaged<uint*, int>)export("nvmlDeviceGetCount_v2");
        _handle = (delegate* unmanaged<uint, nint*, int>)export("nvmlDeviceGetHandleByIndex_v2");
        _uuid = (delegate* unmanaged<nint, byte*, uint, int>)export("nvmlDeviceGetUUID");
        _name = (delegate* unmanaged<nint, byte*, uint, int>)export("nvmlDeviceGetName");
        _utilization = (delegate* unmanaged<nint, Utilization*, int>)export("nvmlDeviceGetUtilizationRates");
        _memory = (delegate* unmanaged<nint, Memory*, int>)export("nvmlDeviceGetMemoryInfo");
        _memoryV2 = NativeLibrary.TryGetExport(library, "nvmlDeviceGetMemoryInfo_v2", out var v2) ? (delegate* unmanaged<nint, MemoryV2*, int>)v2 : null;
        _temperature = (delegate* unmanaged<nint, int, uint*, int>)export("nvmlDeviceGetTemperature");
        _power = (delegate* unmanaged<nint, uint*, int>)export("nvmlDeviceGetPowerUsage");
    }

    public string Name => "nvml";

    /// <summary>The NVIDIA driver version NVML reports.</summary>
    public string DriverVersion
    {
        get
        {
            var buffer = stackalloc byte[StringBuffer];
            return Check(_driverVersion(buffer, StringBuffer), "nvmlSystemGetDriverVersion") ? Text(buffer) : "unknown";
        }
    }

    /// <summary>Loads and initialises NVML, or says why it cannot.</summary>
    public static (NvmlSource? Source, string? Error) TryOpen()
    {
        if (!NativeLibrary.TryLoad(Library, typeof(NvmlSource).Assembly, null, out var library))
        {
            return (null, $"{Library} not found: no NVIDIA driver on this machine, or it is not mounted into the container");
        }
        try
        {
            if (!NativeLibrary.TryGetExport(library, "nvmlInit_v2", out var init))
            {
                throw new EntryPointNotFoundException("nvmlInit_v2");
            }
            var source = new NvmlSource(library, name => NativeLibrary.TryGetExport(library, name, out var f) ? f : throw new EntryPointNotFoundException(name));
            var result = ((delegate* unmanaged<int>)init)();
            if (result != Success)
            {
                var message = source.ErrorText(result);
                NativeLibrary.Free(library);
                return (null, $"nvmlInit_v2 failed: {message} ({result})");
            }
            return (source, null);
        }
        catch (EntryPointNotFoundException e)
        {
            NativeLibrary.Free(library);
            return (null, $"{Library} lacks {e.Message}: the driver is too old");
        }
    }

    public Task<IReadOnlyList<GpuReading>> ReadAsync(CancellationToken ct) => Task.FromResult(Read());

    private IReadOnlyList<GpuReading> Read()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            uint count;
            Require(_count(&count), "nvmlDeviceGetCount_v2");
            var gpus = new List<GpuReading>((int)count);
            for (uint i = 0; i < count; i++)
            {
                nint device;
                Require(_handle(i, &device), "nvmlDeviceGetHandleByIndex_v2");
                gpus.Add(ReadDevice((int)i, device));
            }
            return gpus;
        }
    }

    private GpuReading ReadDevice(int index, nint device)
    {
        var text = stackalloc byte[StringBuffer];
        Require(_uuid(device, text, StringBuffer), "nvmlDeviceGetUUID");
        var uuid = Text(text);
        Require(_name(device, text, StringBuffer), "nvmlDeviceGetName");
        var name = Text(text);

        Utilization utilization;
        double? utilizationRatio = Check(_utilization(device, &utilization), "nvmlDeviceGetUtilizationRates") ? utilization.Gpu / 100.0 : null;

        ulong used, total;
        MemoryV2 v2 = new() { Version = MemoryV2Version };
        if (_memoryV2 != null && _memoryV2(device, &v2) == Success)
        {
            (used, total) = (v2.Used, v2.Total);
        }
        else
        {
            Memory v1;
            Require(_memory(device, &v1), "nvmlDeviceGetMemoryInfo");
            (used, total) = (v1.Used, v1.Total);
        }

        uint celsius, milliwatts;
        double? temperature = Check(_temperature(device, TemperatureGpu, &celsius), "nvmlDeviceGetTemperature") ? celsius : null;
        double? power = Check(_power(device, &milliwatts), "nvmlDeviceGetPowerUsage") ? milliwatts / 1000.0 : null;
        return new GpuReading(index, uuid, name, utilizationRatio, (long)used, (long)total, temperature, power);
    }

    /// <summary>True on success, false when the device does not support the query; throws on real errors.</summary>
    private bool Check(int result, string function) =>
        result switch
        {
            Success => true,
            NotSupported => false,
            _ => throw new InvalidOperationException($"{function} failed: {ErrorText(result)} ({result})"),
        };

    private void Require(int result, string function)
    {
        if (result != Success)
        {
            throw new InvalidOperationException($"{function} failed: {ErrorText(result)} ({result})");
        }
    }

    private string ErrorText(int result) => Marshal.PtrToStringUTF8((nint)_errorString(result)) ?? "unknown error";

    private static string Text(byte* buffer)
    {
        var bytes = new ReadOnlySpan<byte>(buffer, StringBuffer);
        var end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _shutdown();
            NativeLibrary.Free(_library);
        }
    }
}
