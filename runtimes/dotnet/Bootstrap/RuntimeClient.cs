using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Kumo.Runtime
{
    /// <summary>A minimal keep-alive HTTP/1.1 client for the Runtime API (much cheaper to start than HttpClient).</summary>
    internal sealed class RuntimeClient
    {
        internal sealed class Response
        {
            public int Status;
            public Dictionary<string, string> Headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            public byte[] Body;
        }

        private readonly string _hostHeader;
        private readonly string _host;
        private readonly int _port;
        private NativeSocket _socket;
        private Stream _in;
        private Stream _out;

        public RuntimeClient(string address)
        {
            int colon = address.LastIndexOf(':');
            _hostHeader = address;
            _host = address.Substring(0, colon).Trim('[', ']');
            if (_host.Length == 0) _host = "127.0.0.1";
            _port = int.Parse(address.Substring(colon + 1));
        }

        public Response Request(string method, string path, byte[] body, params string[] headers)
        {
            var head = new StringBuilder(256);
            head.Append(method).Append(' ').Append(path).Append(" HTTP/1.1\r\nHost: ").Append(_hostHeader).Append("\r\n");
            if (body != null) head.Append("Content-Length: ").Append(body.Length).Append("\r\n");
            for (int i = 0; i + 1 < headers.Length; i += 2)
                head.Append(headers[i]).Append(": ").Append(headers[i + 1].Replace('\r', ' ').Replace('\n', ' ')).Append("\r\n");
            head.Append("\r\n");
            byte[] headBytes = Encoding.UTF8.GetBytes(head.ToString());
            // A kept-alive connection may have been closed while idle: retry once on a fresh one.
            for (int attempt = 0; ; attempt++)
            {
                bool reused = _socket != null;
                try
                {
                    if (!reused) Connect();
                    _out.Write(headBytes, 0, headBytes.Length);
                    if (body != null) _out.Write(body, 0, body.Length);
                    _out.Flush();
                    return ReadResponse();
                }
                catch (IOException)
                {
                    Close();
                    if (!reused || attempt > 0) throw;
                }
            }
        }

        private void Connect()
        {
            _socket = new NativeSocket(_host, _port);
            _in = new BufferedStream(_socket, 65536);
            _out = _socket;
        }

        private void Close()
        {
            if (_socket != null) _socket.Dispose();
            _socket = null;
        }

        private Response ReadResponse()
        {
            string status = ReadLine();
            if (status == null) throw new IOException("Runtime API closed the connection");
            var r = new Response { Status = int.Parse(status.Substring(status.IndexOf(' ') + 1, 3)) };
            string line;
            while (!string.IsNullOrEmpty(line = ReadLine()))
            {
                int colon = line.IndexOf(':');
                if (colon > 0) r.Headers[line.Substring(0, colon).Trim()] = line.Substring(colon + 1).Trim();
            }
            string value;
            if (r.Headers.TryGetValue("Transfer-Encoding", out value) && value.IndexOf("chunked", StringComparison.OrdinalIgnoreCase) >= 0)
            {
                var body = new MemoryStream();
                while (true)
                {
                    string size = ReadLine();
                    int semi = size.IndexOf(';');
                    int n = Convert.ToInt32((semi >= 0 ? size.Substring(0, semi) : size).Trim(), 16);
                    if (n == 0)
                    {
                        while (!string.IsNullOrEmpty(ReadLine())) { } // trailers
                        break;
                    }
                    var chunk = ReadExactly(n);
                    body.Write(chunk, 0, n);
                    ReadLine();
                }
                r.Body = body.ToArray();
            }
            else if (r.Headers.TryGetValue("Content-Length", out value))
            {
                r.Body = ReadExactly(int.Parse(value));
            }
            else if (r.Status == 204 || r.Status == 304 || r.Status < 200)
            {
                r.Body = new byte[0];
            }
            else
            {
                var body = new MemoryStream(); // delimited by the end of the connection
                _in.CopyTo(body);
                r.Body = body.ToArray();
                Close();
            }
            if (r.Headers.TryGetValue("Connection", out value) && value.Equals("close", StringComparison.OrdinalIgnoreCase))
                Close();
            return r;
        }

        private byte[] ReadExactly(int n)
        {
            var b = new byte[n];
            int off = 0;
            while (off < n)
            {
                int got = _in.Read(b, off, n - off);
                if (got <= 0) throw new IOException("Runtime API response truncated");
                off += got;
            }
            return b;
        }

        private string ReadLine()
        {
            var line = new MemoryStream(128);
            int c;
            while ((c = _in.ReadByte()) != -1)
            {
                if (c == '\n')
                {
                    int len = (int)line.Length;
                    if (len > 0 && line.GetBuffer()[len - 1] == '\r') len--;
                    return Encoding.UTF8.GetString(line.GetBuffer(), 0, len);
                }
                line.WriteByte((byte)c);
            }
            return line.Length == 0 ? null : Encoding.UTF8.GetString(line.ToArray());
        }
    }
}
