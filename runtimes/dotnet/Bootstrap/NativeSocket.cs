using System;
using System.IO;
using System.Net;
using System.Runtime.InteropServices;

namespace Kumo.Runtime
{
    /// <summary>
    /// A TCP connection made with libc calls. Mono's Socket class reads machine.config on first use
    /// (System.Configuration + System.Xml), which costs ~50 ms of cold start; this does not.
    /// </summary>
    internal sealed class NativeSocket : Stream
    {
        private const int EINTR = 4;
        private int _fd;

        [DllImport("libc", SetLastError = true)] private static extern int socket(int domain, int type, int protocol);
        [DllImport("libc", SetLastError = true)] private static extern int connect(int fd, byte[] addr, int len);
        [DllImport("libc", SetLastError = true)] private static extern int setsockopt(int fd, int level, int name, ref int value, int len);
        [DllImport("libc", SetLastError = true)] private static extern IntPtr read(int fd, byte[] buf, IntPtr count);
        [DllImport("libc", SetLastError = true)] private static extern IntPtr write(int fd, byte[] buf, IntPtr count);
        [DllImport("libc", SetLastError = true)] private static extern int close(int fd);

        public NativeSocket(string host, int port)
        {
            byte[] ip = host == "localhost" ? new byte[] { 127, 0, 0, 1 } : ParseIPv4(host) ?? IPAddress.Parse(host).GetAddressBytes();
            byte[] addr;
            int family;
            if (ip.Length == 4)
            {
                family = 2; // AF_INET: family, port (big-endian), address, zero padding
                addr = new byte[16];
                Buffer.BlockCopy(ip, 0, addr, 4, 4);
            }
            else
            {
                family = 10; // AF_INET6: family, port, flowinfo, address, scope id
                addr = new byte[28];
                Buffer.BlockCopy(ip, 0, addr, 8, 16);
            }
            addr[0] = (byte)family;
            addr[2] = (byte)(port >> 8);
            addr[3] = (byte)port;
            _fd = socket(family, 1 /* SOCK_STREAM */, 0);
            if (_fd < 0) throw Error("socket");
            int one = 1;
            setsockopt(_fd, 6 /* IPPROTO_TCP */, 1 /* TCP_NODELAY */, ref one, 4);
            while (connect(_fd, addr, addr.Length) != 0)
            {
                if (Marshal.GetLastWin32Error() != EINTR)
                {
                    var e = Error("connect");
                    Close();
                    throw e;
                }
            }
        }

        private static byte[] ParseIPv4(string s)
        {
            string[] parts = s.Split('.');
            if (parts.Length != 4) return null;
            var b = new byte[4];
            for (int i = 0; i < 4; i++)
                if (!byte.TryParse(parts[i], out b[i])) return null;
            return b;
        }

        private static IOException Error(string call)
        {
            return new IOException(call + " failed: errno " + Marshal.GetLastWin32Error());
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            byte[] target = offset == 0 ? buffer : new byte[count];
            long n;
            do
            {
                n = (long)read(_fd, target, (IntPtr)count);
            } while (n < 0 && Marshal.GetLastWin32Error() == EINTR);
            if (n < 0) throw Error("read");
            if (offset != 0) Buffer.BlockCopy(target, 0, buffer, offset, (int)n);
            return (int)n;
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            while (count > 0)
            {
                byte[] chunk = buffer;
                if (offset != 0)
                {
                    chunk = new byte[count];
                    Buffer.BlockCopy(buffer, offset, chunk, 0, count);
                    buffer = chunk;
                    offset = 0;
                }
                long n = (long)write(_fd, chunk, (IntPtr)count);
                if (n < 0)
                {
                    if (Marshal.GetLastWin32Error() == EINTR) continue;
                    throw Error("write");
                }
                offset = (int)n;
                count -= (int)n;
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (_fd >= 0) close(_fd);
            _fd = -1;
            base.Dispose(disposing);
        }

        public override bool CanRead { get { return true; } }
        public override bool CanSeek { get { return false; } }
        public override bool CanWrite { get { return true; } }
        public override long Length { get { throw new NotSupportedException(); } }
        public override long Position { get { throw new NotSupportedException(); } set { throw new NotSupportedException(); } }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) { throw new NotSupportedException(); }
        public override void SetLength(long value) { throw new NotSupportedException(); }
    }
}
