namespace Fjord.Broker;
