namespace Fjord.Broker.Tests;
