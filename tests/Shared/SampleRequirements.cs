namespace AgentBus.Testing;

/// <summary>Requirements of projects the tests submit.</summary>
public static class SampleRequirements
{
    /// <summary>An ordinary web project, the one the integration tests submit by default; shared so that GpuWorkDetectorTests proves it stays on cpu.</summary>
    public const string Clinic =
        "Patients must be able to book appointments online. Doctors should see their daily schedule. " +
        "The system must send email reminders a day before each appointment. Admins can manage clinic opening hours. " +
        "The site must be secure and GDPR compliant.";
}
