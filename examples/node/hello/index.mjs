// Hello-world function: `index.handler`.

export const handler = async (event, context) => {
  const name = event?.name ?? 'world';
  console.log(`saying hello to ${name}`);
  return {
    message: `hello ${name}`,
    requestId: context.awsRequestId,
    function: context.functionName,
  };
};
