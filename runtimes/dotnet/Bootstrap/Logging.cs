using System;
using System.IO;
using System.Text;
using Amazon.Lambda.Core;

namespace Kumo.Runtime
{
    /// <summary>
    /// Console.Out / Console.Error replacement: each line becomes
    /// "timestamp\trequest id\tlevel\tmessage", as the .NET managed runtime writes it.
    /// </summary>
    internal sealed class LogWriter : TextWriter
    {
        internal static string RequestId = "";

        private readonly Stream _raw;
        private readonly string _level;
        private readonly StringBuilder _line = new StringBuilder();
        private readonly object _lock;

        public LogWriter(Stream raw, string level, object sharedLock)
        {
            _raw = raw;
            _level = level;
            _lock = sharedLock;
        }

        public override Encoding Encoding { get { return Encoding.UTF8; } }

        public override void Write(char value)
        {
            lock (_lock)
            {
                if (value == '\n') EmitLine();
                else if (value != '\r') _line.Append(value);
            }
        }

        public override void Write(string value)
        {
            if (value == null) return;
            lock (_lock)
            {
                foreach (char c in value)
                {
                    if (c == '\n') EmitLine();
                    else if (c != '\r') _line.Append(c);
                }
            }
        }

        public override void WriteLine(string value)
        {
            lock (_lock)
            {
                Write(value);
                EmitLine();
            }
        }

        /// <summary>Emits a pending partial line, so that nothing is held back when a response is posted.</summary>
        public override void Flush()
        {
            lock (_lock)
            {
                if (_line.Length > 0) EmitLine();
                _raw.Flush();
            }
        }

        private void EmitLine()
        {
            string text = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ") + "\t" + RequestId + "\t" + _level + "\t" + _line + "\n";
            _line.Clear();
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            _raw.Write(bytes, 0, bytes.Length);
        }

        /// <summary>Writes text unformatted (ILambdaLogger.Log).</summary>
        public void WriteRaw(string text)
        {
            lock (_lock)
            {
                byte[] bytes = Encoding.UTF8.GetBytes(text);
                _raw.Write(bytes, 0, bytes.Length);
            }
        }
    }

    internal sealed class Logger : ILambdaLogger
    {
        private readonly LogWriter _out;

        public Logger(LogWriter output)
        {
            _out = output;
        }

        public void Log(string message)
        {
            Console.Error.Flush();
            _out.Flush();
            _out.WriteRaw(message ?? "");
        }

        public void LogLine(string message)
        {
            _out.WriteLine(message);
        }
    }
}
