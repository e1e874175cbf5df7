using System;
using System.IO;
using System.Collections.Generic;
using System.Reflection;
using System.Threading.Tasks;
using Amazon.Lambda.Core;

namespace Kumo.Runtime
{
    /// <summary>A failure to load the handler (errorType "LambdaValidationException").</summary>
    public sealed class LambdaValidationException : Exception
    {
        public LambdaValidationException(string message) : base(message) { }
    }

    /// <summary>
    /// The handler named "Assembly::Namespace.Type::Method". The method takes no parameter, the input,
    /// an ILambdaContext, or the input and an ILambdaContext; input and output are Streams (raw bytes) or converted by the
    /// ILambdaSerializer named by [LambdaSerializer] (else the runtime's default JSON serializer).
    /// Task and Task&lt;T&gt; results are awaited.
    /// </summary>
    internal sealed class Handler
    {
        private const string Format = "The valid format is 'ASSEMBLY::TYPE::METHOD'.";

        private readonly MethodInfo _method;
        private readonly object _instance;
        private readonly Type _inputType;   // null: no input parameter
        private readonly bool _takesContext;
        private readonly Type _outputType;  // null: nothing to return
        private readonly bool _isTask;
        private readonly ILambdaSerializer _serializer;
        private MethodInfo _deserialize;
        private MethodInfo _serialize;

        private Handler(MethodInfo method, object instance, ILambdaSerializer serializer)
        {
            _method = method;
            _instance = instance;
            var ps = method.GetParameters();
            _takesContext = ps.Length > 0 && ps[ps.Length - 1].ParameterType == typeof(ILambdaContext);
            _inputType = ps.Length == 2 || (ps.Length == 1 && !_takesContext) ? ps[0].ParameterType : null;
            Type ret = method.ReturnType;
            if (ret == typeof(Task)) { _isTask = true; ret = typeof(void); }
            else if (ret.IsGenericType && ret.GetGenericTypeDefinition() == typeof(Task<>)) { _isTask = true; ret = ret.GetGenericArguments()[0]; }
            _outputType = ret == typeof(void) ? null : ret;
            _serializer = serializer;
        }

        internal static Handler Load(string handler, string taskRoot)
        {
            if (string.IsNullOrWhiteSpace(handler))
                throw new LambdaValidationException("Empty lambda function handler. " + Format);
            string[] parts = handler.Split(new[] { "::" }, StringSplitOptions.None);
            if (parts.Length != 3)
                throw new LambdaValidationException("Invalid lambda function handler: '" + handler + "'. " + Format);
            string assemblyName = parts[0].Trim(), typeName = parts[1].Trim(), methodName = parts[2].Trim();
            if (assemblyName.Length == 0)
                throw new LambdaValidationException("Invalid lambda function handler: '" + handler + "', the assembly is missing. " + Format);
            if (typeName.Length == 0)
                throw new LambdaValidationException("Invalid lambda function handler: '" + handler + "', the type is missing. " + Format);
            if (methodName.Length == 0)
                throw new LambdaValidationException("Invalid lambda function handler: '" + handler + "', the method is missing. " + Format);

            string path = Path.Combine(taskRoot, assemblyName + ".dll");
            if (!File.Exists(path) && File.Exists(Path.Combine(taskRoot, assemblyName + ".exe")))
                path = Path.Combine(taskRoot, assemblyName + ".exe");
            if (!File.Exists(path))
                throw new LambdaValidationException("Could not find the specified handler assembly with the file name '" + assemblyName
                    + ", Culture=neutral, PublicKeyToken=null'. The assembly should be located in the root of your uploaded .zip file.");
            Assembly assembly;
            try
            {
                assembly = Assembly.LoadFrom(path);
            }
            catch (BadImageFormatException)
            {
                throw new LambdaValidationException("Unable to load assembly '" + assemblyName + "'.");
            }

            Type type = assembly.GetType(typeName);
            if (type == null)
                throw new LambdaValidationException("Unable to load type '" + typeName + "' from assembly '" + assemblyName + "'.");
            if (type.IsGenericTypeDefinition)
                throw new LambdaValidationException("The type '" + typeName + "' cannot be used as a Lambda Handler type because it is generic. Handler methods cannot be located in generic types. Please specify a handler method in a non-generic type.");

            var flags = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
            var methods = new List<MethodInfo>();
            foreach (MethodInfo m in type.GetMethods(flags))
                if (m.Name == methodName) methods.Add(m);
            if (methods.Count == 0)
                throw new LambdaValidationException("Unable to find method '" + methodName + "' in type '" + typeName + "' from assembly '"
                    + assemblyName + "': Found no methods matching method name '" + methodName + "'.");
            if (methods.Count > 1)
                throw new LambdaValidationException("The method '" + methodName + "' in type '" + typeName
                    + "' appears to have a number of overloads. To call this method please specify a complete method signature. Possible candidates are:\n"
                    + string.Join("\n", methods) + ".");
            MethodInfo method = methods[0];
            var ps = method.GetParameters();
            if (ps.Length > 2)
                throw new LambdaValidationException("Method '" + methodName + "' of type '" + typeName + "' is not supported: the method has more than 2 parameters.");
            if (ps.Length == 2 && ps[1].ParameterType != typeof(ILambdaContext))
                throw new LambdaValidationException("Method '" + methodName + "' of type '" + typeName
                    + "' is not supported: the method has 2 parameters, but the second parameter is not of type '" + typeof(ILambdaContext).FullName + "'.");
            if (method.IsGenericMethodDefinition)
                throw new LambdaValidationException("The method '" + methodName + "' cannot be used as a Lambda Handler because it is a generic method. Handler methods cannot be generic. Please specify a non-generic handler method.");
            if (method.IsAbstract)
                throw new LambdaValidationException("The method '" + methodName + "' cannot be used as a Lambda Handler because it is an abstract method. Handler methods cannot be abstract. Please specify a non-abstract handler method.");

            ILambdaSerializer serializer = FindSerializer(method, assembly);
            object instance = null;
            if (!method.IsStatic)
            {
                if (type.IsAbstract)
                    throw new LambdaValidationException("The instance method '" + methodName + "' cannot be used as a Lambda Handler because its type '" + typeName + "' is abstract. Please either use a static handler or specify a type that is not abstract.");
                instance = Create(type); // the constructor runs during init, as on Lambda
            }
            else
            {
                System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(type.TypeHandle);
            }
            return new Handler(method, instance, serializer);
        }

        private static ILambdaSerializer FindSerializer(MethodInfo method, Assembly assembly)
        {
            var attribute = (LambdaSerializerAttribute)Attribute.GetCustomAttribute(method, typeof(LambdaSerializerAttribute), false)
                ?? (LambdaSerializerAttribute)Attribute.GetCustomAttribute(assembly, typeof(LambdaSerializerAttribute), false);
            if (attribute == null) return null; // the default serializer, created on first use
            Type t = attribute.SerializerType;
            if (t == null)
                throw new LambdaValidationException("The 'SerializerType' property on attribute class '" + typeof(LambdaSerializerAttribute).FullName + "' is not set.");
            if (!typeof(ILambdaSerializer).IsAssignableFrom(t))
                throw new LambdaValidationException("The '" + t.FullName + "' class is invalid: it does not implement the 'ILambdaSerializer' interface.");
            if (t.GetConstructor(Type.EmptyTypes) == null)
                throw new LambdaValidationException("The indicated serializer '" + t.FullName + "' does not define a public zero-parameter constructor.");
            return (ILambdaSerializer)Create(t);
        }

        private static object Create(Type t)
        {
            return Activator.CreateInstance(t, true);
        }

        /// <summary>Runs the handler on one event and writes the response bytes.</summary>
        internal void Invoke(byte[] payload, Stream output, ILambdaContext context)
        {
            object[] args = new object[(_inputType != null ? 1 : 0) + (_takesContext ? 1 : 0)];
            if (_inputType != null)
            {
                var input = new MemoryStream(payload, false);
                args[0] = typeof(Stream).IsAssignableFrom(_inputType) && _inputType.IsAssignableFrom(typeof(MemoryStream))
                    ? input
                    : Serializer("Deserialize", ref _deserialize, _inputType).Invoke(SerializerInstance, new object[] { input });
            }
            if (_takesContext) args[args.Length - 1] = context;

            object result = _method.Invoke(_instance, args);
            if (_isTask)
            {
                var task = (Task)result;
                task.GetAwaiter().GetResult(); // rethrows the task's own exception
                result = _outputType != null ? task.GetType().GetProperty("Result").GetValue(task) : null;
            }
            if (_outputType == null) return;
            var stream = result as Stream;
            if (stream != null)
            {
                stream.CopyTo(output);
                return;
            }
            Serializer("Serialize", ref _serialize, _outputType).Invoke(SerializerInstance, new[] { result, (object)output });
        }

        private ILambdaSerializer _default;

        private ILambdaSerializer SerializerInstance
        {
            get { return _serializer ?? (_default ?? (_default = new DefaultSerializer())); }
        }

        private MethodInfo Serializer(string name, ref MethodInfo cached, Type t)
        {
            return cached ?? (cached = typeof(ILambdaSerializer).GetMethod(name).MakeGenericMethod(t));
        }

        /// <summary>The exception user code threw, without the reflection wrapper around it.</summary>
        internal static Exception Unwrap(Exception e)
        {
            while (e is TargetInvocationException && e.InnerException != null) e = e.InnerException;
            return e;
        }
    }
}
